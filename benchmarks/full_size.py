"""Full-size Stable Diffusion architectures with random weights, saved in the standard diffusers layout.

Speed and memory do not depend on the weights' values, so these stand in for the real models where
weights cannot be downloaded. The configs are those of the published models.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pipelines.tiny import _tokenizer

SD15_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
)
SDXL_UNET = dict(
    sample_size=128, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280), cross_attention_dim=2048, attention_head_dim=(5, 10, 20),
    transformer_layers_per_block=(1, 2, 10), use_linear_projection=True,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    addition_embed_type="text_time", addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
)
VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, sample_size=512,
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
)
SCHEDULER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
                 num_train_timesteps=1000, timestep_spacing="leading")


def _clip(hidden: int, layers: int, heads: int, act: str, projection: bool = False, projection_dim: int = 768):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=49408, hidden_size=hidden, intermediate_size=hidden * 4,
                            num_hidden_layers=layers, num_attention_heads=heads, max_position_embeddings=77,
                            hidden_act=act, projection_dim=projection_dim, bos_token_id=512, eos_token_id=513,
                            pad_token_id=513)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config)


def build_sd15():
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel

    return StableDiffusionPipeline(
        unet=UNet2DConditionModel(**SD15_UNET), vae=AutoencoderKL(**VAE, scaling_factor=0.18215),
        text_encoder=_clip(768, 12, 12, "quick_gelu"), tokenizer=_tokenizer(),
        scheduler=EulerDiscreteScheduler(**SCHEDULER), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )


def build_sdxl():
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    return StableDiffusionXLPipeline(
        unet=UNet2DConditionModel(**SDXL_UNET), vae=AutoencoderKL(**VAE, scaling_factor=0.13025, force_upcast=True),
        text_encoder=_clip(768, 12, 12, "quick_gelu"),
        text_encoder_2=_clip(1280, 32, 20, "gelu", projection=True, projection_dim=1280),
        tokenizer=_tokenizer(), tokenizer_2=_tokenizer(), scheduler=EulerDiscreteScheduler(**SCHEDULER),
    )


def write(kind: str, folder: str | Path, dtype=torch.float16) -> Path:
    """Save a full-size random-weight model (`sd15` or `sdxl`) once; later calls reuse the folder."""
    folder = Path(folder)
    if not (folder / "model_index.json").exists():
        torch.manual_seed(0)
        pipeline = {"sd15": build_sd15, "sdxl": build_sdxl}[kind]()
        pipeline.to(dtype).save_pretrained(folder)
    return folder
