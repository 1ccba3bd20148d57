"""The hires fix as A1111 users know it: a first pass at the size asked, a second pass larger on the same weights,
A1111's sizes and parameters text, one progress bar over both passes, and pictures PNG Info makes again."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pipelines import hires
from pipelines.errors import GenerationCancelled, InvalidRequest
from pipelines.metadata import parse_parameters
from pipelines.request import CancelToken, GenerationRequest, HiresFix
from pipelines.tiny import tiny_extras_dir


@pytest.fixture(scope="module")
def engine(tiny_dir):
    from pipelines.catalog import Library
    from pipelines.engine_settings import EngineSettings
    from pipelines.manager import PipelineManager

    library = Library.from_file(tiny_dir / "models.yaml")
    library.add_folders([tiny_extras_dir(tiny_dir / "models.yaml")])
    return PipelineManager(library, EngineSettings(device="cpu", watermark=False, content_credentials=False))


def two_pass(**hires_fields) -> GenerationRequest:
    return GenerationRequest(prompt="a lighthouse", steps=4, width=64, height=64, seed=7, strength=0.5,
                             hires=HiresFix(**hires_fields))


def test_sizes_are_a1111_s():
    assert hires.sizes(512, 512, HiresFix(scale=2)).final == (1024, 1024)
    assert hires.sizes(512, 768, HiresFix(scale=1.5)).final == (768, 1152)
    assert hires.sizes(520, 520, HiresFix(scale=2.5)).final == (1296, 1296)  # whole latent cells, as A1111 ends up
    assert hires.sizes(512, 768, HiresFix(resize_x=1024)).final == (1024, 1536)  # one side keeps the shape
    assert hires.sizes(512, 768, HiresFix(resize_y=1024)).final == (680, 1024)
    both = hires.sizes(512, 512, HiresFix(resize_x=1024, resize_y=640))  # cover, then cut the middle
    assert both.cover == (1024, 1024) and both.final == (1024, 640)


@pytest.mark.parametrize("upscaler", ["Latent", "Latent (bicubic antialiased)", "Lanczos", "tiny-realesr-compact"])
def test_the_second_pass_doubles_the_size_and_the_parameters_say_how(engine, upscaler):
    result = engine.generate(two_pass(upscaler=upscaler))
    assert result.images[0].size == (128, 128)
    settings = parse_parameters(result.infotexts[0])["settings"]
    assert settings["Size"] == "64x64"  # A1111 writes the first pass's size
    assert (settings["Hires upscale"], settings["Hires upscaler"], settings["Denoising strength"]) == \
        ("2", upscaler, "0.5")
    assert result.parameters["hires"]["upscaler"] == upscaler


def test_the_second_pass_reuses_the_weights_and_draws_more_than_a_plain_resize(engine):
    from PIL import Image

    engine.generate(two_pass())
    loads = dict(engine.cache.loads)
    result = engine.generate(two_pass(steps=3, sampler="Euler"))
    assert engine.cache.loads == loads  # nothing loaded again: the image-to-image view shares the weights
    single = engine.generate(GenerationRequest(prompt="a lighthouse", steps=4, width=64, height=64, seed=7))
    resized = np.asarray(single.images[0].resize((128, 128), Image.LANCZOS), dtype=float)
    assert np.abs(np.asarray(result.images[0], dtype=float) - resized).mean() > 1  # redrawn, not only resized
    settings = parse_parameters(result.infotexts[0])["settings"]
    assert (settings["Hires steps"], settings["Hires sampler"]) == ("3", "Euler")


def test_progress_runs_once_over_both_passes(engine):
    seen = []
    engine.generate(two_pass(steps=6), on_step=seen.append)
    steps = [info.step for info in seen]
    assert steps == list(range(1, 8))  # 4 steps, then 6 x 0.5
    assert {info.total for info in seen} == {7}


def test_the_same_seed_gives_the_same_picture_and_png_info_makes_it_again(engine):
    first = engine.generate(two_pass(upscaler="Latent (nearest)", resize_x=96, resize_y=128, prompt="a tower"))
    again = engine.generate(two_pass(upscaler="Latent (nearest)", resize_x=96, resize_y=128, prompt="a tower"))
    assert np.array_equal(np.asarray(first.images[0]), np.asarray(again.images[0]))
    assert first.images[0].size == (96, 128)
    parsed = parse_parameters(first.infotexts[0])
    found = hires.from_infotext(parsed)
    assert found["hr_prompt"] == "a tower" and (found["hr_resize_x"], found["hr_resize_y"]) == ("96", "128")
    remade = engine.generate(GenerationRequest(
        prompt=parsed["prompt"], steps=parsed["steps"], width=parsed["width"], height=parsed["height"],
        seed=parsed["seed"], sampler=parsed["sampler"], guidance_scale=parsed["cfg_scale"],
        strength=parsed["denoising_strength"],
        hires=HiresFix(upscaler=found["hr_upscaler"], resize_x=int(found["hr_resize_x"]),
                       resize_y=int(found["hr_resize_y"]), prompt=found["hr_prompt"])))
    assert np.array_equal(np.asarray(first.images[0]), np.asarray(remade.images[0]))
    assert hires.from_infotext(parse_parameters(
        engine.generate(GenerationRequest(prompt="one pass", steps=2, width=64, height=64)).infotexts[0])) is None


def test_a_batch_and_sdxl_take_the_second_pass_too(engine):
    batch = engine.generate(dataclasses.replace(two_pass(upscaler="Nearest"), batch_size=2))
    assert [picture.size for picture in batch.images] == [(128, 128)] * 2
    assert not np.array_equal(np.asarray(batch.images[0]), np.asarray(batch.images[1]))
    sdxl = engine.generate(dataclasses.replace(two_pass(scale=1.5), model="tiny-sdxl"))
    assert sdxl.images[0].size == (96, 96)


def test_stop_reaches_the_second_pass(engine):
    cancel = CancelToken()

    def stop_in_second_pass(info):
        if info.step == 5:
            cancel.cancel()

    with pytest.raises(GenerationCancelled):
        engine.generate(two_pass(), on_step=stop_in_second_pass, cancel=cancel)
    assert engine.generate(two_pass()).images[0].size == (128, 128)  # and the next run is served


@pytest.mark.parametrize("fields, strength, named", [
    ({"scale": 0}, 0.5, "hr_scale"),
    ({"scale": 100}, 0.5, "hr_scale"),
    ({"resize_x": 4096}, 0.5, "hr_resize_x"),
    ({"resize_x": 20}, 0.5, "hr_resize_x"),
    ({"upscaler": "Latent (sharp)"}, 0.5, "hr_upscaler"),
    ({"sampler": "Euler z"}, 0.5, "hr_sampler_name"),
    ({"steps": -1}, 0.5, "hr_second_pass_steps"),
    ({}, 0, "denoising_strength"),
    ({"scale": 4}, 0.5, "hr_scale"),  # 256 pixels a side: past the engine's limit set below
    ({"resize_x": 128, "resize_y": 256}, 0.5, "hr_resize_y"),
])
def test_bad_hires_fields_are_named(tiny_dir, fields, strength, named):
    from pipelines.catalog import Library
    from pipelines.engine_settings import EngineSettings
    from pipelines.manager import PipelineManager
    from pipelines.request import Limits

    small = PipelineManager(Library.from_file(tiny_dir / "models.yaml"),
                            EngineSettings(device="cpu", limits=Limits(max_side=192)))
    with pytest.raises(InvalidRequest) as raised:
        small.generate(dataclasses.replace(two_pass(**fields), strength=strength))
    assert raised.value.field == named


def test_hires_outside_text_to_image_is_said_not_ignored(engine, photo):
    result = engine.generate(dataclasses.replace(two_pass(), task="img2img", image=photo))
    assert result.images[0].size == (64, 64)
    assert any(warning.startswith("enable_hr:") for warning in result.warnings)
