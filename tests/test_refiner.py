"""The SDXL refiner as A1111 runs it: refiner checkpoints are told from their weights and load; the model makes the
steps down to the switch and the refiner the rest, both held by the residency; the parameters name both; what
cannot be refined is refused naming the field."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from pipelines.errors import InvalidRequest
from pipelines.metadata import parse_parameters
from pipelines.model_sources import family_from_single_file_keys, peek_folder
from pipelines.request import GenerationRequest, Plot, PlotAxis


@pytest.fixture(scope="module")
def engine(tiny_dir):
    from pipelines.catalog import Library
    from pipelines.engine_settings import EngineSettings
    from pipelines.manager import PipelineManager

    library = Library.from_file(tiny_dir / "models.yaml")
    return PipelineManager(library, EngineSettings(device="cpu", watermark=False, content_credentials=False))


def make(engine, on_step=None, **fields):
    request = GenerationRequest(**{"model": "tiny-sdxl", "prompt": "a fox", "seed": 3, "steps": 10,
                                   "sampler": "Euler", "width": 64, "height": 64, **fields})
    return engine.generate(request, on_step=on_step)


def test_a_refiner_is_told_from_its_weights_whatever_its_name(tiny_dir, tmp_path):
    renamed = tmp_path / "my-sdxl-base"  # a refiner saved under a base's name
    shutil.copytree(tiny_dir / "sdxl-tiny-refiner", renamed)
    assert peek_folder(renamed) == ("sdxl_refiner", False)
    assert peek_folder(tiny_dir / "sdxl-tiny") == ("sdxl", False)
    # A1111's refiner checkpoint: OpenCLIP bigG as the first and only embedder
    assert family_from_single_file_keys({"conditioner.embedders.0.model.ln_final.weight"}) == "sdxl_refiner"


def test_the_refiner_makes_the_steps_after_the_switch_and_both_models_are_named(engine):
    calls = []
    views = {}
    original = engine._call

    def spy(view, base, request, *args, **kwargs):  # which weights make which pass, with which handover
        calls.append((base.name, kwargs.get("arguments") or (args[-1] if len(args) > 8 else None)))
        views[base.name] = view
        return original(view, base, request, *args, **kwargs)

    engine._call = spy
    steps = []
    try:
        refined = make(engine, refiner="tiny-sdxl-refiner", refiner_switch_at=0.7, on_step=steps.append)
    finally:
        del engine._call
    assert calls == [("tiny-sdxl", {"denoising_end": 0.7}), ("tiny-sdxl-refiner", {"denoising_start": 0.7})]
    assert [s.step for s in steps] == list(range(1, 11)) and steps[-1].total == 10  # 7 steps, then 3 refined
    settings = parse_parameters(refined.infotexts[0])["settings"]
    assert settings["Model"] == "tiny-sdxl" and settings["Refiner"].startswith("tiny-sdxl-refiner")
    assert settings["Refiner switch at"] == "0.7"
    plain = make(engine)
    assert not np.array_equal(np.asarray(plain.images[0]), np.asarray(refined.images[0]))
    assert np.array_equal(np.asarray(make(engine, refiner="tiny-sdxl-refiner", refiner_switch_at=0.7).images[0]),
                          np.asarray(refined.images[0]))  # the same seed refines to the same picture
    held = engine.status()["ram_cache"]
    assert any("tiny-sdxl-refiner" in str(key) for key in held) and any("tiny-sdxl" in str(key) for key in held)


def test_with_the_hires_fix_the_refiner_finishes_the_second_pass(engine):
    from pipelines.request import HiresFix

    calls = []
    original = engine._call

    def spy(view, base, request, *args, **kwargs):
        calls.append((base.name, request.width, args[-1] if len(args) > 8 else None))
        return original(view, base, request, *args, **kwargs)

    engine._call = spy
    try:
        result = make(engine, steps=6, hires=HiresFix(scale=2), strength=0.7, refiner="tiny-sdxl-refiner")
    finally:
        del engine._call
    assert calls == [("tiny-sdxl", 64, None), ("tiny-sdxl", 128, {"denoising_end": 0.8}),
                     ("tiny-sdxl-refiner", 128, {"denoising_start": 0.8})]
    assert result.images[0].size == (128, 128) and "Refiner: tiny-sdxl-refiner" in result.infotexts[0]


def test_image_to_image_is_refined_too(engine):
    start = make(engine).images[0]
    refined = make(engine, task="img2img", image=start, strength=0.6, refiner="tiny-sdxl-refiner")
    assert "Refiner switch at: 0.8" in refined.infotexts[0]
    # a start below the switch's noise level is the refiner's alone, as in A1111
    assert make(engine, task="img2img", image=start, strength=0.15, refiner="tiny-sdxl-refiner").images


def test_an_xyz_plot_over_refiners(engine):
    result = make(engine, steps=4, plot=Plot(PlotAxis("Refiner checkpoint", "None, tiny-sdxl-refiner")))
    assert len(result.images) == 3 and "Refiner: " not in result.infotexts[1] and "Refiner: " in result.infotexts[2]


@pytest.mark.parametrize("fields, field, words", [
    ({"model": "tiny-sd15", "refiner": "tiny-sdxl-refiner"}, "refiner", "not an SDXL model"),
    ({"refiner": "tiny-sd15"}, "refiner", "SD 1.x; an SDXL picture is refined by an SDXL refiner"),
    ({"refiner": "nowhere"}, "refiner", "unknown model 'nowhere'"),
    ({"model": "tiny-sdxl-refiner"}, "model", "is an SDXL refiner"),
    ({"refiner": "tiny-sdxl-refiner", "refiner_switch_at": 0}, "refiner_switch_at", "from 0.01 to 1"),
    ({"refiner": "tiny-sdxl-refiner", "task": "inpaint"}, "refiner", "not inpaint"),
])
def test_what_cannot_be_refined_is_refused_by_name(engine, fields, field, words):
    if fields.get("task") == "inpaint":
        from PIL import Image

        fields = {**fields, "image": Image.new("RGB", (64, 64)), "mask": Image.new("L", (64, 64), 255)}
    with pytest.raises(InvalidRequest) as refused:
        make(engine, **fields)
    assert refused.value.field == field and words in str(refused.value)
    assert make(engine, steps=2).images  # the next request works


def test_switch_at_one_leaves_the_refiner_out_and_says_so(engine):
    result = make(engine, steps=2, refiner="tiny-sdxl-refiner", refiner_switch_at=1)
    assert "Refiner" not in result.infotexts[0] and any("refiner was not used" in w for w in result.warnings)
