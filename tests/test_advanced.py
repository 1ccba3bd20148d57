"""The Advanced settings: seamless tiling, FreeU and perturbed-attention guidance change the run they are asked
for and leave the shared weights as they were for the next one; their names are in the parameters text."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipelines.errors import InvalidRequest
from pipelines.metadata import parse_parameters
from pipelines.request import GenerationRequest


@pytest.fixture(scope="module")
def engine(tiny_dir):
    from pipelines.catalog import Library
    from pipelines.engine_settings import EngineSettings
    from pipelines.manager import PipelineManager

    library = Library.from_file(tiny_dir / "models.yaml")
    return PipelineManager(library, EngineSettings(device="cpu", watermark=False, content_credentials=False))


def run(engine, model="tiny-sd15", on_step=None, **fields):
    return engine.generate(GenerationRequest(model=model, prompt="a brick wall", steps=3, width=64, height=64,
                                             seed=11, **fields), on_step=on_step)


def base_of(engine, model="tiny-sd15"):
    return engine.cache.get(f"base:{model}").pipeline


def padding_modes(pipeline) -> set[str]:
    return {layer.padding_mode for module in (pipeline.unet, pipeline.vae) for layer in module.modules()
            if isinstance(layer, torch.nn.Conv2d)}


def test_tiling_makes_every_convolution_circular_during_the_run_and_restores_it(engine):
    seen = []
    result = run(engine, tiling=True, on_step=lambda _info: seen.append(padding_modes(base_of(engine))))
    assert seen and all(modes == {"circular"} for modes in seen)
    assert padding_modes(base_of(engine)) == {"zeros"}
    assert parse_parameters(result.infotexts[0])["settings"]["Tiling"] == "True"
    plain = run(engine)
    assert not np.array_equal(np.asarray(plain.images[0]), np.asarray(result.images[0]))
    assert "Tiling" not in parse_parameters(plain.infotexts[0])["settings"]


@pytest.mark.parametrize("model, values", [("tiny-sd15", "b1 1.5 b2 1.6 s1 0.9 s2 0.2"),
                                           ("tiny-sdxl", "b1 1.1 b2 1.2 s1 0.6 s2 0.4")])
def test_freeu_weighs_the_unet_during_the_run_with_the_family_s_values(engine, model, values):
    seen = []
    result = run(engine, model, freeu=True, on_step=lambda _info: seen.append(base_of(engine, model).unet.up_blocks[0].b1))
    assert seen[0] == float(values.split()[1])
    assert getattr(base_of(engine, model).unet.up_blocks[0], "b1", None) is None  # off again for the next run
    assert parse_parameters(result.infotexts[0])["settings"]["FreeU"] == values
    assert not np.array_equal(np.asarray(run(engine, model).images[0]), np.asarray(result.images[0]))


@pytest.mark.parametrize("model, task", [("tiny-sd15", "txt2img"), ("tiny-sdxl", "txt2img"), ("tiny-sd15", "img2img")])
def test_pag_changes_the_picture_and_puts_the_attention_back(engine, model, task):
    from PIL import Image

    start = {"image": Image.new("RGB", (64, 64), "gray"), "strength": 0.9} if task == "img2img" else {}
    plain = run(engine, model, task=task, **start)
    processors = {name: type(p) for name, p in base_of(engine, model).unet.attn_processors.items()}
    guided = run(engine, model, task=task, pag_scale=3.0, **start)
    assert not np.array_equal(np.asarray(plain.images[0]), np.asarray(guided.images[0]))
    assert {name: type(p) for name, p in base_of(engine, model).unet.attn_processors.items()} == processors
    assert parse_parameters(guided.infotexts[0])["settings"]["PAG scale"] == "3"
    again = run(engine, model, task=task, **start)  # the plain view is the plain pipeline still
    assert np.array_equal(np.asarray(again.images[0]), np.asarray(plain.images[0]))


@pytest.mark.parametrize("fields, field", [(dict(pag_scale=-1), "pag_scale"), (dict(pag_scale=11), "pag_scale"),
                                           (dict(tiling="sometimes"), "tiling"), (dict(freeu=3), "freeu")])
def test_bad_values_are_refused_by_name(engine, fields, field):
    with pytest.raises(InvalidRequest) as refused:
        run(engine, **fields)
    assert refused.value.field == field


def test_png_info_turns_them_on_and_off_as_the_picture_was_made():
    from ui.common import EngineInfo
    from ui.png_info import settings_from
    from pipelines import SHARED_NAMES

    info = EngineInfo(models=["tiny-sd15"], default_model="tiny-sd15", samplers=["Euler"], control_types=[],
                      default_sampler="Euler", default_size=64, default_steps=3, max_steps=150, max_batch=8,
                      max_side=2048)
    text = "a wall\nSteps: 3, Sampler: Euler, Seed: 1, Size: 64x64, Tiling: True, FreeU: b1 1.5 b2 1.6 s1 0.9 s2 0.2, " \
           "PAG scale: 2.5"
    values = dict(zip(SHARED_NAMES, settings_from(text, info)[0]))
    assert (values["tiling"], values["freeu"], values["pag_scale"]) == (True, True, 2.5)
    values = dict(zip(SHARED_NAMES, settings_from("a wall\nSteps: 3, Sampler: Euler, Seed: 1", info)[0]))
    assert (values["tiling"], values["freeu"], values["pag_scale"]) == (False, False, 0.0)
    assert (values["subseed"], values["subseed_strength"], values["seed_resize_from_w"]) == (-1, 0.0, 0)
    varied = "a wall\nSteps: 3, Seed: 1, Variation seed: 12, Variation seed strength: 0.25, Seed resize from: 128x96"
    values = dict(zip(SHARED_NAMES, settings_from(varied, info)[0]))
    assert (values["subseed"], values["subseed_strength"], values["seed_resize_from_w"],
            values["seed_resize_from_h"]) == ("12", "0.25", 128, 96)
