"""Single-file checkpoints load with no network: the configs of their family ship with Easel.

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


def test_the_shipped_tokenizer_is_clips():
    from transformers import CLIPTokenizer

    for family, pad in (("sd1", "<|endoftext|>"), ("sd2", "!")):  # OpenCLIP pads with "!", as A1111 does
        tokenizer = CLIPTokenizer.from_pretrained(config_folder(family, False), subfolder="tokenizer")
        assert tokenizer("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]
        assert len(tokenizer) == 49408 and tokenizer.pad_token == pad
    sdxl = CLIPTokenizer.from_pretrained(config_folder("sdxl", False), subfolder="tokenizer_2")
    assert sdxl.pad_token == "!"


def test_a_full_size_checkpoint_in_an_a1111_folder_loads_offline_and_paints(tmp_path, monkeypatch):
    from benchmarks.full_size import write
    from pipelines import GenerationRequest
    from pipelines.catalog import Library
    from pipelines.engine_settings import EngineSettings
    from pipelines.manager import PipelineManager
    from pipelines.single_file_export import save_single_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = write("sd15", tmp_path / "diffusers", dtype=torch.float16)
    save_single_file(folder, tmp_path / "models" / "Stable-diffusion" / "dreamlike.safetensors")
    library = Library()
    library.add_folders([tmp_path / "models"])
    manager = PipelineManager(library, EngineSettings(device="cpu"))
    result = manager.generate(GenerationRequest(model="dreamlike.safetensors", prompt="a lighthouse at dusk",
                                                steps=1, width=64, height=64, seed=1))
    assert result.images[0].size == (64, 64)
    loaded = manager.cache.get("base:dreamlike.safetensors")  # with the real tokenizer, not the tiny one it was saved with
    assert loaded.family == "sd1" and loaded.pipeline.tokenizer("a cat")["input_ids"] == [49406, 320, 2368, 49407]
    assert loaded.pipeline.unet.config.cross_attention_dim == 768
