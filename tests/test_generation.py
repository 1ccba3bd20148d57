"""A user generates with each task on the tiny models and gets pictures that carry their parameters."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pipelines.metadata import parse_parameters, read_parameters, save_png
from pipelines.request import ControlUnit, GenerationRequest


def pixels(image):
    return np.asarray(image, dtype=np.int16)


def test_text_to_image_gives_pictures_of_the_default_size_with_their_parameters(manager):
    result = manager.generate(GenerationRequest(prompt="a lighthouse at dusk", negative_prompt="blurry", seed=7, steps=3))

    assert [im.size for im in result.images] == [(64, 64)]
    assert result.seeds == [7]
    parsed = parse_parameters(result.infotexts[0])
    assert parsed["prompt"] == "a lighthouse at dusk"
    assert parsed["negative_prompt"] == "blurry"
    assert (parsed["steps"], parsed["seed"], parsed["width"], parsed["height"]) == (3, 7, 64, 64)
    assert parsed["settings"]["Model"] == "tiny-sd15"
    assert set(result.timings) >= {"load", "denoise", "decode", "total"}


def test_the_same_seed_gives_the_same_pixels_again(manager):
    request = GenerationRequest(prompt="a red fox", seed=1234, steps=3)
    first, second = manager.generate(request), manager.generate(request)
    assert np.array_equal(pixels(first.images[0]), pixels(second.images[0]))


def test_another_seed_gives_another_picture(manager):
    first = manager.generate(GenerationRequest(prompt="a red fox", seed=1, steps=3))
    second = manager.generate(GenerationRequest(prompt="a red fox", seed=2, steps=3))
    assert not np.array_equal(pixels(first.images[0]), pixels(second.images[0]))


def test_random_seed_is_reported_and_reproduces_the_picture(manager):
    result = manager.generate(GenerationRequest(prompt="a boat", seed=-1, steps=2))
    again = manager.generate(GenerationRequest(prompt="a boat", seed=result.seeds[0], steps=2))
    assert result.seeds[0] >= 0
    assert np.array_equal(pixels(result.images[0]), pixels(again.images[0]))


def test_image_i_of_a_batch_is_the_picture_of_seed_plus_i(manager):
    batch = manager.generate(GenerationRequest(prompt="a tree", seed=100, steps=2, batch_size=3))
    alone = manager.generate(GenerationRequest(prompt="a tree", seed=102, steps=2))
    assert batch.seeds == [100, 101, 102]
    assert len(batch.images) == 3
    assert np.abs(pixels(batch.images[2]) - pixels(alone.images[0])).max() <= 1  # batched maths may round differently
    assert parse_parameters(batch.infotexts[2])["seed"] == 102


def test_image_to_image_keeps_the_size_of_the_picture_and_records_the_strength(manager, photo):
    result = manager.generate(GenerationRequest(task="img2img", prompt="a painting", image=photo.resize((80, 72)),
                                                strength=0.6, steps=5, seed=3))
    assert result.images[0].size == (80, 72)
    assert parse_parameters(result.infotexts[0])["denoising_strength"] == 0.6


def test_inpainting_uses_the_dedicated_inpainting_checkpoint_the_library_names(manager, photo, square_mask):
    result = manager.generate(GenerationRequest(task="inpaint", prompt="a hat", image=photo, mask=square_mask,
                                                strength=1.0, steps=3, seed=3))
    assert result.images[0].size == (64, 64)
    assert "base:tiny-sd15-inpaint" in manager.cache.keys()
    assert "Mask blur: 4" in result.infotexts[0]


def test_inpainting_only_the_masked_area_leaves_the_rest_of_the_picture_as_it_was(manager, photo):
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (40, 40, 56, 56))
    result = manager.generate(GenerationRequest(task="inpaint", prompt="a hat", image=photo, mask=mask, mask_blur=0,
                                                inpaint_only_masked=True, only_masked_padding=4, steps=3, seed=3))
    out, original = pixels(result.images[0]), pixels(photo)
    # far from the mask nothing changed (up to the VAE round trip diffusers avoids by pasting back)
    assert np.abs(out[:24, :24] - original[:24, :24]).max() <= 2
    assert np.abs(out[44:52, 44:52] - original[44:52, 44:52]).mean() > 5
    assert "Inpaint area: Only masked" in result.infotexts[0]


def test_controlnet_with_two_units_returns_both_control_maps(manager, photo):
    units = [ControlUnit("canny", image=photo, preprocessor_params={"low_threshold": 50, "high_threshold": 150}),
             ControlUnit("tile", image=photo, conditioning_scale=0.5, start=0.2, end=0.8)]
    result = manager.generate(GenerationRequest(task="controlnet", prompt="a robot", control_units=units, steps=3, seed=5))
    assert result.images[0].size == (64, 64)
    assert len(result.control_maps) == 2
    edges = np.asarray(result.control_maps[0].convert("L"))
    assert set(np.unique(edges)) <= {0, 255} and edges.max() == 255  # a canny map: white edges on black
    settings = parse_parameters(result.infotexts[0])["settings"]
    assert "Module: canny" in settings["ControlNet 0"]
    assert "Weight: 0.5, Guidance Start: 0.2, Guidance End: 0.8" in settings["ControlNet 1"]


def test_controlnet_with_an_init_image_and_a_mask(manager, photo, square_mask):
    result = manager.generate(GenerationRequest(task="controlnet", prompt="a robot", image=photo, mask=square_mask,
                                                strength=0.9, control_units=[ControlUnit("canny", image=photo)],
                                                steps=3, seed=5))
    assert result.images[0].size == (64, 64)
    assert parse_parameters(result.infotexts[0])["denoising_strength"] == 0.9


def test_sdxl_model_generates_with_its_own_controlnet(manager, photo):
    result = manager.generate(GenerationRequest(model="tiny-sdxl", task="controlnet", prompt="a city",
                                                control_units=[ControlUnit("canny", image=photo)], steps=2, seed=1))
    assert result.images[0].size == (64, 64)
    assert result.parameters["family"] == "sdxl"


@pytest.mark.parametrize("sampler", ["Euler", "Euler a", "Heun", "LMS", "DPM++ 2M", "DPM++ 2M Karras",
                                     "DPM++ 2M SDE Karras", "DDIM", "UniPC", "LCM"])
def test_every_sampler_generates_and_is_named_in_the_parameters(manager, sampler):
    result = manager.generate(GenerationRequest(prompt="a cup", sampler=sampler, steps=2, seed=9))
    assert parse_parameters(result.infotexts[0])["sampler"] == sampler
    assert np.asarray(result.images[0]).std() > 0


def test_progress_is_reported_every_step_with_a_latent_preview(manager):
    steps, previews = [], []
    manager.generate(GenerationRequest(prompt="a bird", steps=4, seed=1), on_step=steps.append, on_preview=previews.append)
    assert [(s.step, s.total) for s in steps] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert all(s.elapsed >= 0 and s.eta >= 0 for s in steps)
    assert len(previews) == 3 and previews[0].size == (64, 64)  # the tiny autoencoder's, at the picture's size


def test_a_png_written_with_the_parameters_reads_back_the_same(manager, tmp_path):
    result = manager.generate(GenerationRequest(prompt="un café ☕, 咖啡", seed=11, steps=2))
    path = tmp_path / "out.png"
    save_png(result.images[0], path, result.infotexts[0])
    assert read_parameters(path) == result.infotexts[0]
    assert parse_parameters(read_parameters(path))["prompt"] == "un café ☕, 咖啡"
    buffer = io.BytesIO()
    save_png(result.images[0], buffer, result.infotexts[0])
    assert np.array_equal(pixels(Image.open(io.BytesIO(buffer.getvalue()))), pixels(result.images[0]))


def test_a_turbo_model_gets_few_steps_and_no_guidance_by_default(tiny_dir, make_manager):
    from pipelines.catalog import Library

    library_file = tiny_dir / "turbo.yaml"
    library_file.write_text("include_builtin: false\nmodels:\n  tiny-turbo:\n    source: sd15-tiny\n    turbo: true\n")
    manager = make_manager()
    manager.library = Library.from_file(library_file)
    result = manager.generate(GenerationRequest(model="tiny-turbo", prompt="a dog", seed=1, width=64, height=64))
    parsed = parse_parameters(result.infotexts[0])
    assert (parsed["steps"], parsed["cfg_scale"], parsed["sampler"]) == (4, 0.0, "Euler a")


def test_inpainting_keeps_every_pixel_outside_the_mask(manager, photo, square_mask):
    result = manager.generate(GenerationRequest(task="inpaint", prompt="a hat", image=photo, mask=square_mask,
                                                mask_blur=0, steps=3, seed=3))
    out, original = pixels(result.images[0]), pixels(photo)
    outside = np.asarray(square_mask) == 0
    assert np.array_equal(out[outside], original[outside])
    assert np.abs(out[~outside] - original[~outside]).mean() > 5
