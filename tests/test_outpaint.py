"""Outpainting as a user sees it: the canvas grows by the pixels asked for, the new area is painted through the
inpaint path (the library's inpainting model), the picture stays pixel for pixel outside the seam, and bad sides
are refused by name."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipelines import outpaint
from pipelines.errors import InvalidRequest
from pipelines.metadata import parse_parameters
from pipelines.request import GenerationRequest, Limits, Outpaint
from pipelines.validation import validate


@pytest.fixture(scope="module")
def engine(tiny_dir):
    from pipelines.catalog import Library
    from pipelines.engine_settings import EngineSettings
    from pipelines.manager import PipelineManager

    library = Library.from_file(tiny_dir / "models.yaml")
    return PipelineManager(library, EngineSettings(device="cpu", watermark=False, content_credentials=False))


@pytest.fixture(scope="module")
def picture():
    # a picture with detail everywhere, so that any change to a pixel shows
    rng = np.random.default_rng(5)
    return Image.fromarray(rng.integers(0, 256, (72, 96, 3), dtype=np.uint8))


def grown(picture, **sides) -> GenerationRequest:
    return GenerationRequest(task="inpaint", prompt="a wider view", steps=2, seed=4, image=picture, strength=1.0,
                             mask_blur=4, outpaint=Outpaint(**sides))


def test_the_canvas_grows_by_the_pixels_asked_rounded_up_to_whole_latent_cells():
    assert outpaint.canvas_size(96, 72, Outpaint(left=32)) == (128, 72)
    assert outpaint.canvas_size(96, 72, Outpaint(right=30, down=20)) == (128, 96)  # 126 -> 128, 92 -> 96
    sides = outpaint.canvas_sides(100, 64, Outpaint(left=30, right=30))  # 160 -> 160: 100 + 60 is already whole
    assert sides["left"] + sides["right"] == 60
    sides = outpaint.canvas_sides(100, 64, Outpaint(left=10, right=30))  # 140 -> 144: the 4 shared by both sides
    assert (sides["left"], sides["right"]) == (11, 33)


@pytest.mark.parametrize("fill", ["edges", "noise"])
def test_the_new_area_starts_from_the_picture_s_colours_and_the_mask_covers_it_and_the_seam(picture, fill):
    canvas, mask = outpaint.extend(picture, Outpaint(left=32, up=24, fill=fill), mask_blur=6)
    assert canvas.size == mask.size == (128, 96)
    pixels, painted = np.asarray(canvas).astype(int), np.asarray(mask)
    assert (pixels[24:, 32:] == np.asarray(picture)).all()  # the picture sits where it was, whole
    assert (painted[:24] == 255).all() and (painted[:, :32] == 255).all()  # all the new area is painted
    assert (painted[24:30, 32:] == 255).all() and (painted[24:, 32:38] == 255).all()  # and the 6-pixel seam
    assert (painted[30:, 38:] == 0).all()  # the rest of the picture is kept
    new_area = pixels[:24].reshape(-1, 3)
    assert abs(new_area.mean() - np.asarray(picture).mean()) < 40  # the picture's colours, not black
    assert new_area.std() > 0  # not one flat colour


def test_outpainting_adds_the_pixels_and_keeps_the_picture_intact_outside_the_seam(engine, picture):
    result = engine.generate(grown(picture, right=32, down=24))
    made = result.images[0]
    assert made.size == (128, 96)
    kept = np.asarray(made)[:72 - 4 * 4, :96 - 4 * 4]  # beyond the seam and its blur
    assert (kept == np.asarray(picture)[:72 - 16, :96 - 16]).all()
    assert not (np.asarray(made)[72:] == np.asarray(made)[72:].mean(axis=(0, 1)).astype(np.uint8)).all()
    settings = parse_parameters(result.infotexts[0])["settings"]
    assert settings["Size"] == "128x96" and settings["Outpaint"] == "right 32 down 24, fill edges"
    assert result.parameters["outpaint"]["right"] == 32
    # the library names an inpainting model for the default one: the new area is painted with it
    assert "base:tiny-sd15-inpaint" in engine.cache.loads


def test_a_seed_gives_the_same_outpainting_again(engine, picture):
    first = engine.generate(grown(picture, left=16, fill="noise")).images[0]
    again = engine.generate(grown(picture, left=16, fill="noise")).images[0]
    assert np.array_equal(np.asarray(first), np.asarray(again))


def test_a_painted_mask_is_repainted_as_well_as_the_new_area(picture):
    painted = Image.new("L", picture.size, 0)
    painted.paste(255, (40, 30, 60, 50))
    request = grown(picture, left=32)
    request.mask = painted
    resolved, _ = validate(request, _facts(), ["DPM++ 2M Karras"], Limits())
    mask = np.asarray(resolved.mask)
    assert (mask[30:50, 72:92] == 255).all() and mask[60:, 100:].max() == 0


def _facts():
    from pipelines.request import ModelFacts

    return ModelFacts(name="tiny", family="sd1", default_size=512, default_steps=20, default_guidance=7.0,
                      default_sampler="DPM++ 2M Karras", control_types={})


@pytest.mark.parametrize("sides, field, words", [
    (dict(left=-8), "outpaint_left", "from 0 to 1024"),
    (dict(down=2000), "outpaint_down", "from 0 to 1024"),
    (dict(), "outpaint_left", "no side grows"),
    (dict(right=1000, left=8), "outpaint_right", "over the limit of 1024 pixels a side"),
    (dict(up=8, fill="sky"), "outpaint_fill", "edges"),
])
def test_bad_sides_are_refused_by_name(picture, sides, field, words):
    with pytest.raises(InvalidRequest) as refused:
        validate(grown(picture, **sides), _facts(), ["DPM++ 2M Karras"], Limits(max_side=1024))
    assert refused.value.field == field and words in str(refused.value)


def test_outpainting_is_for_the_inpaint_path_and_says_what_it_does_not_use(picture):
    request = grown(picture, left=8)
    request.task = "txt2img"
    with pytest.raises(InvalidRequest) as refused:
        validate(request, _facts(), ["DPM++ 2M Karras"], Limits())
    assert refused.value.field == "outpaint"
    request = grown(picture, left=8)
    request.width, request.inpaint_only_masked = 512, True
    resolved, warnings = validate(request, _facts(), ["DPM++ 2M Karras"], Limits())
    assert resolved.width == 104 and not resolved.inpaint_only_masked
    assert any(w.startswith("width:") for w in warnings) and any(w.startswith("inpaint_only_masked") for w in warnings)


def test_the_engine_keeps_serving_after_a_refused_outpainting(engine, picture):
    with pytest.raises(InvalidRequest):
        engine.generate(grown(picture, left=-1))
    assert engine.generate(grown(picture, up=8)).images[0].size == (96, 80)
