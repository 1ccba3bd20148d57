"""Upscalers as A1111 users have them: the built-in resamplers and ESRGAN-family files read by spandrel, tiled
so that memory stays bounded, as a residency component; files that could run code are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines import upscalers
from pipelines.errors import InvalidRequest
from pipelines.metadata import parse_parameters
from pipelines.tiny import tiny_extras_dir

RANDOM = np.random.default_rng(0)


@pytest.fixture(scope="module")
def tiny_upscaler(tmp_path_factory):
    path = upscalers.write_tiny_upscaler(tmp_path_factory.mktemp("esrgan") / "tiny-esrgan.safetensors")
    return path, upscalers.read("tiny-esrgan", path)


@pytest.fixture(scope="module")
def extras_manager(tiny_dir):
    from pipelines.catalog import Library
    from pipelines.engine_settings import EngineSettings
    from pipelines.manager import PipelineManager

    library = Library.from_file(tiny_dir / "models.yaml")
    library.add_folders([tiny_extras_dir(tiny_dir / "models.yaml")])
    return PipelineManager(library, EngineSettings(device="cpu", watermark=False, content_credentials=False))


def noise(width=70, height=50) -> Image.Image:
    return Image.fromarray((RANDOM.random((height, width, 3)) * 255).astype(np.uint8))


def test_a_model_upscales_by_its_scale_and_tiles_give_the_same_picture(tiny_upscaler):
    _, model = tiny_upscaler
    picture = noise()
    whole = upscalers.upscale(picture, 4, model, tile=1000)
    tiled = upscalers.upscale(picture, 4, model, tile=40, overlap=8)  # six tiles of 24 pixels and their margins
    assert whole.size == (280, 200)
    assert np.array_equal(np.asarray(whole), np.asarray(tiled))


def test_other_scales_as_a1111_makes_them(tiny_upscaler):
    _, model = tiny_upscaler
    picture = noise()
    assert upscalers.upscale(picture, 2, model).size == (140, 100)  # the 4x model, then down to 2x
    assert upscalers.upscale(picture, 8, model).size == (560, 400)  # the model twice
    assert upscalers.upscale(picture, 2.5, None, method="Lanczos").size == (175, 125)
    nearest = upscalers.upscale(picture, 2, None, method="Nearest")
    assert np.array_equal(np.asarray(nearest)[::2, ::2], np.asarray(picture))


def test_pth_files_load_through_the_weights_only_loader_and_code_is_refused(tiny_upscaler, tmp_path):
    _, model = tiny_upscaler
    torch.save(model.model.state_dict(), tmp_path / "plain.pth")
    assert upscalers.read("plain", tmp_path / "plain.pth").scale == 4
    torch.save({"params": model.model.state_dict(), "made_by": Image.new("RGB", (1, 1))}, tmp_path / "code.pth")
    with pytest.raises(upscalers.UpscalerError, match="code.pth holds more than tensors.*--allow-pickle"):
        upscalers.read("code", tmp_path / "code.pth")
    with pytest.raises(upscalers.UpscalerError, match="TorchScript .pt only with --allow-pickle"):
        upscalers.read("script", tmp_path / "script.pt")


def test_a_file_that_is_no_upscaler_is_named(tmp_path, tiny_dir):
    (tmp_path / "truncated.safetensors").write_bytes(b"\x10\x00\x00\x00" + b"{}")
    with pytest.raises(upscalers.UpscalerError, match="upscaler broken: truncated.safetensors cannot be read"):
        upscalers.read("broken", tmp_path / "truncated.safetensors")
    with pytest.raises(upscalers.UpscalerError, match="not an architecture spandrel knows"):
        upscalers.read("vae", tiny_dir / "a1111" / "models" / "VAE" / "tiny-vae.safetensors")


def test_the_engine_upscales_keeps_the_parameters_and_holds_the_model_as_a_component(extras_manager):
    from pipelines.request import ExtrasRequest, GenerationRequest
    from pipelines.provenance import png_bytes

    made = extras_manager.generate(GenerationRequest(prompt="a harbour", steps=1, seed=21))
    assert "tiny-esrgan" in extras_manager.upscalers()
    bigger = extras_manager.postprocess(ExtrasRequest(image=png_bytes(made, 0), upscaler="tiny-esrgan", scale=2))
    assert bigger.images[0].size == (128, 128)
    parsed = parse_parameters(bigger.infotexts[0])
    assert parsed["prompt"] == "a harbour" and parsed["seed"] == 21  # how it was made, still readable
    assert parsed["settings"]["Postprocess upscale by"] == "2" and parsed["settings"]["Postprocess upscaler"] == "tiny-esrgan"
    assert any(row["model"] == "upscaler:tiny-esrgan" for row in extras_manager.status()["components"])


@pytest.mark.parametrize("upscaler, scale, field, words", [
    ("ESRGAN_4x", 2, "upscaler", "choose one of"), ("Lanczos", 9, "scale", "from 1 to 8"),
    ("Lanczos", 0, "scale", "from 1 to 8"), ("Lanczos", 100, "scale", "from 1 to 8"),
    ("Lanczos", 8, "scale", "the largest side allowed is 8192"),
])
def test_bad_upscales_name_the_field(extras_manager, upscaler, scale, field, words):
    from pipelines.request import ExtrasRequest

    big = Image.new("RGB", (1100, 64))
    with pytest.raises(InvalidRequest, match=words) as error:
        extras_manager.postprocess(ExtrasRequest(image=big, upscaler=upscaler, scale=scale))
    assert error.value.field == field
