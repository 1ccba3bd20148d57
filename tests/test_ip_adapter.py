"""IP-Adapter image prompts: adapters and their image encoder found where ComfyUI and A1111 keep them; a reference
picture changes the picture and weight 0 does not; style only and composition only differ from the whole; the
UNet is itself again after the run; every task takes them; what does not fit is refused naming the field."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipelines.errors import InvalidRequest
from pipelines.metadata import parse_parameters
from pipelines.request import GenerationRequest, ImagePrompt
from pipelines.tiny import tiny_extras_dir


@pytest.fixture(scope="module")
def engine(tiny_dir):
    from pipelines.catalog import Library
    from pipelines.engine_settings import EngineSettings
    from pipelines.manager import PipelineManager

    library = Library.from_file(tiny_dir / "models.yaml")
    library.add_folders([tiny_extras_dir(tiny_dir / "models.yaml")])
    return PipelineManager(library, EngineSettings(device="cpu", watermark=False, content_credentials=False))


@pytest.fixture(scope="module")
def reference():
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((64, 64))


def pixels(engine, **fields) -> np.ndarray:
    request = GenerationRequest(**{"prompt": "a portrait", "seed": 7, "steps": 3, "width": 64, "height": 64, **fields})
    return np.asarray(engine.generate(request).images[0]).astype(int)


def test_adapters_and_their_encoder_are_found_where_comfyui_and_a1111_keep_them(engine):
    adapters = engine.library.ip_adapters()
    assert str(adapters["ip-adapter_tiny-sd15"]).endswith("ipadapter/ip-adapter_tiny-sd15.safetensors")
    assert str(adapters["ip-adapter_tiny-sdxl"]).endswith("ControlNet/ip-adapter_tiny-sdxl.safetensors")
    assert "ip-adapter_sd15" in adapters  # h94's, from the hub, under A1111's names
    assert "ip-adapter_tiny-sdxl" not in engine.library.controlnets  # not taken for a ControlNet
    assert list(engine.library.image_encoders()) == ["tiny-clip-vision"]


def test_a_reference_changes_the_picture_weight_zero_does_not_and_the_unet_is_itself_after(engine, reference):
    plain = pixels(engine)
    steered = pixels(engine, image_prompts=[ImagePrompt(reference)])
    assert np.abs(steered - plain).mean() > 1
    assert np.array_equal(pixels(engine, image_prompts=[ImagePrompt(reference, weight=0)]), plain)
    assert np.array_equal(pixels(engine), plain)  # the adapter left the shared UNet with the run


def test_style_only_and_composition_only_differ_from_the_whole_reference(engine, reference):
    whole, style, layout = (pixels(engine, image_prompts=[ImagePrompt(reference, mode=mode)])
                            for mode in ("full", "style", "composition"))
    assert not np.array_equal(whole, style) and not np.array_equal(whole, layout) and not np.array_equal(style, layout)


def test_two_references_with_their_weights_and_the_parameters_name_them(engine, reference):
    other = Image.new("RGB", (64, 64), (200, 30, 30))
    result = engine.generate(GenerationRequest(prompt="a portrait", seed=7, steps=3, width=64, height=64,
                                               image_prompts=[ImagePrompt(reference, 0.8, "style"),
                                                              ImagePrompt(other, 0.5)]))
    settings = parse_parameters(result.infotexts[0])["settings"]
    assert settings["IP-Adapter 0"].startswith("Model: ip-adapter_tiny-sd15, Weight: 0.8, Mode: style, Image hash: ")
    assert settings["IP-Adapter 1"].startswith("Model: ip-adapter_tiny-sd15, Weight: 0.5, Mode: full")
    held = [key for key in engine.status()["ram_cache"] if "image-encoder" in str(key)]
    assert len(held) == 1  # one encoder for both


@pytest.mark.parametrize("task", ["img2img", "inpaint", "controlnet"])
def test_every_task_takes_a_reference(engine, reference, task):
    start = Image.new("RGB", (64, 64), (90, 120, 160))
    fields = {"task": task, "image": start, "strength": 0.8}
    if task == "inpaint":
        fields["mask"] = Image.new("L", (64, 64), 255)
    if task == "controlnet":
        from pipelines.request import ControlUnit

        fields = {"task": task, "control_units": [ControlUnit("canny", image=reference)]}
    assert not np.array_equal(pixels(engine, **fields), pixels(engine, **fields, image_prompts=[ImagePrompt(reference)]))


def test_sdxl_takes_its_own_adapter(engine, reference):
    plain = pixels(engine, model="tiny-sdxl")
    assert not np.array_equal(plain, pixels(engine, model="tiny-sdxl", image_prompts=[ImagePrompt(reference)]))


@pytest.mark.parametrize("unit, field, words", [
    ({"model": "ip-adapter_tiny-sdxl"}, "image_prompts[0].model", "64-wide text features but the model is SD 1.x"),
    ({"model": "nowhere"}, "image_prompts[0].model", "unknown IP-Adapter 'nowhere'"),
    ({"image": b"not a picture"}, "image_prompts[0].image", "picture"),
    ({"weight": 3}, "image_prompts[0].weight", "from 0 to 2"),
    ({"mode": "vibes"}, "image_prompts[0].mode", "vibes"),
])
def test_what_does_not_fit_is_refused_naming_the_field(engine, reference, unit, field, words):
    with pytest.raises(InvalidRequest) as refused:
        pixels(engine, image_prompts=[ImagePrompt(**{"image": reference, **unit})])
    assert refused.value.field == field and words in str(refused.value)
    assert pixels(engine, steps=2).size  # the next request works
