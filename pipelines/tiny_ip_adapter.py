"""Tiny random IP-Adapters and the image encoder they read pictures with, in the layouts the real ones ship in."""

from __future__ import annotations

from pathlib import Path

ENCODER_WIDTH = 32  # the tiny image encoder's projection: the adapters' clip_embeddings_dim
TOKENS = 4  # image tokens of a plain IP-Adapter (ip-adapter_sd15)


def write_image_encoder(folder: Path) -> Path:
    """A CLIP vision encoder with a projection, as h94/IP-Adapter's models/image_encoder (config.json and weights)."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    config = CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                              image_size=32, patch_size=8, projection_dim=ENCODER_WIDTH, hidden_act="gelu")
    CLIPVisionModelWithProjection(config).save_pretrained(folder)
    return folder


def write_ip_adapter(unet_folder: Path, path: Path, seed: int) -> Path:
    """An IP-Adapter for the UNet in `unet_folder`, in h94's .safetensors layout (image_proj.*, ip_adapter.N.*):
    a projection of the picture's embedding into 4 tokens, and key/value weights for each cross-attention."""
    import torch
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file

    unet = UNet2DConditionModel.from_pretrained(unet_folder)
    generator = torch.Generator().manual_seed(seed)
    cross = unet.config.cross_attention_dim
    tensors = {
        "image_proj.proj.weight": torch.randn(cross * TOKENS, ENCODER_WIDTH, generator=generator) * 0.5,
        "image_proj.proj.bias": torch.zeros(cross * TOKENS),
        "image_proj.norm.weight": torch.ones(cross),
        "image_proj.norm.bias": torch.zeros(cross),
    }
    key_id = 1  # diffusers' numbering: the cross-attentions in the UNet's order, counted by twos
    channels = unet.config.block_out_channels
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            hidden = channels[-1]
        elif name.startswith("up_blocks"):
            hidden = list(reversed(channels))[int(name[len("up_blocks.")])]
        else:
            hidden = channels[int(name[len("down_blocks.")])]
        for kind in ("to_k_ip", "to_v_ip"):
            tensors[f"ip_adapter.{key_id}.{kind}.weight"] = torch.randn(hidden, cross, generator=generator) * 0.5
        key_id += 2
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path
