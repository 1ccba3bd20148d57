"""Single-file checkpoints and ControlNets load with no network: the configs of their family ship with Easel.

A full-size SD 1.5 checkpoint (random weights, the published architecture) in an A1111 models folder loads and
paints with the hub unreachable; the shipped SD 2 and SDXL configs describe architectures of exactly the
published sizes (a checkpoint of those would be gigabytes: their parameter counts are the check).
"""

from __future__ import annotations

import pytest
import torch

from pipelines.single_file_configs import config_folder

# parameters of the published models (UNet, VAE, text encoders), as their model cards and papers count them
PUBLISHED = {
    ("sd1", False): (859_520_964, [123_060_480]),
    ("sd1", True): (859_535_364, [123_060_480]),  # 5 more input channels: the mask and the masked picture
    ("sd2", False): (865_910_724, [340_387_840]),
    ("sd2", True): (865_925_124, [340_387_840]),
    ("sdxl", False): (2_567_463_684, [123_060_480, 694_659_840]),
    ("sdxl", True): (2_567_478_084, [123_060_480, 694_659_840]),
}
VAE_PARAMETERS = 83_653_863


@pytest.mark.parametrize("family, inpainting", list(PUBLISHED))
def test_the_shipped_configs_are_the_published_architectures(family, inpainting):
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    folder = config_folder(family, inpainting)
    count = lambda model: sum(p.numel() for p in model.parameters())  # noqa: E731
    with init_empty_weights():  # shapes only, no memory
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"))
        encoders = [count((CLIPTextModelWithProjection if name.endswith("_2") else CLIPTextModel)(
                        CLIPTextConfig.from_pretrained(folder / name)))
                    for name in ("text_encoder", "text_encoder_2") if (folder / name).exists()]
    assert (count(unet), encoders) == PUBLISHED[family, inpainting]
    assert count(vae) == VAE_PARAMETERS


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_the_shipped_controlnet_config_is_diffusers_controlnet_of_that_unet(family):
    from accelerate import init_empty_weights
    from diffusers import ControlNetModel, UNet2DConditionModel

    from pipelines.single_file_configs import controlnet_config_folder

    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(config_folder(family, False) / "unet"))
        expected = ControlNetModel.from_unet(unet, load_weights_from_unet=False)
        shipped = ControlNetModel.from_config(ControlNetModel.load_config(controlnet_config_folder(family)))
    shapes = lambda model: {k: tuple(v.shape) for k, v in model.state_dict().items()}  # noqa: E731
    assert shapes(shipped) == shapes(expected)


def test_the_shipped_tokenizer_is_clips():
    from transformers import CLIPTokenizer

    for family, pad in (("sd1", "<|endoftext|>"), ("sd2", "!")):  # OpenCLIP pads with "!", as A1111 does
        tokenizer = CLIPTokenizer.from_pretrained(config_folder(family, False), subfolder="tokenizer")
        assert tokenizer("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]
        assert len(tokenizer) == 49408 and tokenizer.pad_token == pad
    sdxl = CLIPTokenizer.from_pretrained(config_folder("sdxl", False), subfolder="tokenizer_2")
    assert sdxl.pad_token == "!"


@pytest.mark.slow  # 2 GB of full-size weights written and read again
def test_a_full_size_checkpoint_and_controlnet_in_an_a1111_folder_load_offline_and_paint(tmp_path, monkeypatch,
                                                                                         photo):
    from diffusers import ControlNetModel
    from safetensors.torch import save_file

    from benchmarks.full_size import SD15_UNET, write
    from pipelines import GenerationRequest
    from pipelines.catalog import Library
    from pipelines.engine_settings import EngineSettings
    from pipelines.manager import PipelineManager
    from pipelines.metadata import parse_parameters
    from pipelines.request import ControlUnit
    from pipelines.single_file_export import save_single_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    models = tmp_path / "models"
    folder = write("sd15", tmp_path / "diffusers", dtype=torch.float16)
    save_single_file(folder, models / "Stable-diffusion" / "dreamlike.safetensors")
    # a ControlNet as ComfyUI users keep them: one file of diffusers-named tensors, no config beside it
    fields = {k: v for k, v in SD15_UNET.items() if k not in ("sample_size", "out_channels", "up_block_types")}
    (models / "ControlNet").mkdir(parents=True)
    save_file(ControlNetModel(**fields).to(torch.float16).state_dict(),
              str(models / "ControlNet" / "control_v11p_sd15_canny.safetensors"))
    library = Library()
    assert library.add_folders([models]) == []
    manager = PipelineManager(library, EngineSettings(device="cpu", watermark=False, content_credentials=False))
    result = manager.generate(GenerationRequest(model="dreamlike.safetensors", prompt="a lighthouse at dusk",
                                                steps=1, width=64, height=64, seed=1))
    assert result.images[0].size == (64, 64)
    loaded = manager.cache.get("base:dreamlike.safetensors")  # with the real tokenizer, not the tiny one it was saved with
    assert loaded.family == "sd1" and loaded.pipeline.tokenizer("a cat")["input_ids"] == [49406, 320, 2368, 49407]

    result = manager.generate(GenerationRequest(task="controlnet", model="dreamlike.safetensors", prompt="a lighthouse",
                                                control_units=[ControlUnit("canny", image=photo)], steps=1, width=64,
                                                height=64, seed=1))
    assert "Model: control_v11p_sd15_canny.safetensors" in parse_parameters(result.infotexts[0])["settings"]["ControlNet 0"]
