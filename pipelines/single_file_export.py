"""Export a diffusers-format SD 1.x folder as one original-layout checkpoint.

Civitai / AUTOMATIC1111 style ``.safetensors`` files use the CompVis/LDM key
layout::

    model.diffusion_model.*                    UNet
    first_stage_model.*                        VAE
    cond_stage_model.transformer.text_model.*  CLIP text encoder

This module is the inverse of diffusers' ``convert_ldm_unet_checkpoint``,
``convert_ldm_vae_checkpoint`` and ``convert_ldm_clip_checkpoint`` (same
mappings as diffusers' ``scripts/convert_diffusers_to_original_stable_diffusion.py``),
but the block indices are computed from the configs instead of being
hard-coded for the 4-block SD 1.5 UNet, so tiny test models export too.  The
result loads through ``StableDiffusionPipeline.from_single_file(path,
config=<diffusers folder>)``, which rebuilds each model from the folder's
configs and converts our keys with those same diffusers functions.

Constraints (all imposed by diffusers' LDM converters, checked below):
  * UNet ``layers_per_block`` must be a single int: the converter derives the
    block of ``input_blocks.N`` from ``(N - 1) // (layers_per_block + 1)``.
  * UNet mid block must be ``UNetMidBlock2DCrossAttn`` (resnet, attn, resnet).
  * No class / addition embeddings (SD 1.x has none).
  * The text encoder must be a plain ``CLIPTextModel`` (no projection).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from safetensors.torch import load_file, save_file

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
# diffusers only recognises a CLIP text encoder in a single file by this key
# ("clip" in CHECKPOINT_KEY_NAMES), so the "text_model." level must be kept even
# though transformers >= 5.6 flattened CLIPTextModel and saves keys without it.
CLIP_PREFIX = "cond_stage_model.transformer.text_model."

# --- UNet (diffusers name -> LDM name) -------------------------------------
UNET_TOP_LEVEL = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
UNET_RESNET = {  # first path component inside a ResnetBlock2D
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}
# Transformer2DModel internals (norm, proj_in, transformer_blocks.*, proj_out)
# have identical names in both layouts, so attentions only get re-indexed.

# --- VAE (diffusers name -> LDM name) --------------------------------------
VAE_ATTN = {  # mid-block attention; old diffusers names included for old folders
    "group_norm": "norm",
    "to_q": "q", "query": "q",
    "to_k": "k", "key": "k",
    "to_v": "v", "value": "v",
    "to_out.0": "proj_out", "proj_attn": "proj_out",
}

_BLOCK = re.compile(r"(down|up)_blocks\.(\d+)\.(resnets|attentions|downsamplers|upsamplers)\.(\d+)\.(.+)")
_MID = re.compile(r"mid_block\.(resnets|attentions)\.(\d+)\.(.+)")


def _rename_first(rest: str, table: dict[str, str]) -> str:
    head, _, tail = rest.partition(".")
    return f"{table.get(head, head)}.{tail}"


def _convert_unet(sd: dict, config: dict) -> dict:
    lpb = config.get("layers_per_block", 2)
    if not isinstance(lpb, int):
        raise ValueError(f"layers_per_block must be an int for the LDM layout, got {lpb!r}")
    if config.get("mid_block_type", "UNetMidBlock2DCrossAttn") != "UNetMidBlock2DCrossAttn":
        raise ValueError(f"unsupported mid_block_type {config['mid_block_type']!r}")
    for key in ("class_embed_type", "addition_embed_type", "num_class_embeds", "encoder_hid_dim"):
        if config.get(key) is not None:
            raise ValueError(f"{key}={config[key]!r} is not part of the SD 1.x layout")
    # LDM puts an up block's upsampler after its attention (slot 2) if it has one.
    up_has_attn = {int(k.split(".")[1]) for k in sd if k.startswith("up_blocks.") and ".attentions." in k}

    out = {}
    for key, tensor in sd.items():
        if m := _BLOCK.fullmatch(key):
            kind, block, sub, j, rest = m[1], int(m[2]), m[3], int(m[4]), m[5]
            # Each LDM level has lpb resnet(+attn) slots, plus one for the
            # down/up-sampler; input_blocks.0 is conv_in, hence the +1 for down.
            base = block * (lpb + 1) + (1 if kind == "down" else 0)
            name = "input_blocks" if kind == "down" else "output_blocks"
            if sub == "resnets":
                new = f"{name}.{base + j}.0.{_rename_first(rest, UNET_RESNET)}"
            elif sub == "attentions":
                new = f"{name}.{base + j}.1.{rest}"
            elif sub == "downsamplers":  # rest = "conv.weight" -> "op.weight"
                new = f"input_blocks.{base + lpb}.0.op.{rest.removeprefix('conv.')}"
            else:
                slot = 2 if block in up_has_attn else 1
                new = f"output_blocks.{base + lpb}.{slot}.{rest}"
        elif m := _MID.fullmatch(key):  # resnet, attention, resnet -> 0, 1, 2
            sub, j, rest = m[1], int(m[2]), m[3]
            if sub == "resnets":
                new = f"middle_block.{2 * j}.{_rename_first(rest, UNET_RESNET)}"
            else:
                new = f"middle_block.{2 * j + 1}.{rest}"
        else:
            module, _, param = key.rpartition(".")
            if module not in UNET_TOP_LEVEL:
                raise ValueError(f"UNet key {key!r} has no SD 1.x (LDM) equivalent")
            new = f"{UNET_TOP_LEVEL[module]}.{param}"
        out[UNET_PREFIX + new] = tensor
    return out


def _convert_vae(sd: dict, config: dict) -> dict:
    n_up = len(config["up_block_types"])
    out = {}
    for key, tensor in sd.items():
        coder, _, rest = key.partition(".")  # "encoder" / "decoder" / "quant_conv" ...
        if m := _BLOCK.fullmatch(rest):
            kind, block, sub, j, tail = m[1], int(m[2]), m[3], int(m[4]), m[5]
            # LDM numbers decoder levels from the lowest resolution up, diffusers
            # in execution order, so the up-block index is mirrored.
            level = block if kind == "down" else n_up - 1 - block
            if sub == "resnets":
                new = f"{coder}.{kind}.{level}.block.{j}.{tail.replace('conv_shortcut', 'nin_shortcut')}"
            else:  # downsamplers.0.conv.* / upsamplers.0.conv.*
                new = f"{coder}.{kind}.{level}.{kind}sample.{tail}"
        elif m := _MID.fullmatch(rest):
            sub, j, tail = m[1], int(m[2]), m[3]
            if sub == "resnets":
                new = f"{coder}.mid.block_{j + 1}.{tail.replace('conv_shortcut', 'nin_shortcut')}"
            else:
                module, _, param = tail.rpartition(".")
                new = f"{coder}.mid.attn_{j + 1}.{VAE_ATTN[module]}.{param}"
                if tensor.ndim == 2:  # q/k/v/proj_out weights (norm params are 1-D)
                    # LDM's AttnBlock uses 1x1 convs where diffusers uses Linear.
                    tensor = tensor.reshape(*tensor.shape, 1, 1)
        elif rest.startswith("conv_norm_out."):
            new = f"{coder}.norm_out.{rest.removeprefix('conv_norm_out.')}"
        else:  # conv_in, conv_out, quant_conv, post_quant_conv: same names
            new = key
        out[VAE_PREFIX + new] = tensor
    return out


def _convert_text_encoder(sd: dict) -> dict:
    out = {}
    for key, tensor in sd.items():
        key = key.removeprefix("text_model.")  # transformers < 5.6 nests it, >= 5.6 does not
        if key == "embeddings.position_ids":  # a buffer, not a weight
            continue
        if not key.startswith(("embeddings.", "encoder.", "final_layer_norm.")):
            raise ValueError(f"text encoder key {key!r} has no SD 1.x equivalent")
        out[CLIP_PREFIX + key] = tensor
    return out


def _load_component(folder: Path, stem: str) -> tuple[dict, dict]:
    """Return (state_dict, config) for one component folder, single or sharded."""
    config = json.loads((folder / "config.json").read_text())
    single, index = folder / f"{stem}.safetensors", folder / f"{stem}.safetensors.index.json"
    if single.exists():
        return load_file(single), config
    if index.exists():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return {k: v for s in shards for k, v in load_file(folder / s).items()}, config
    raise FileNotFoundError(f"no {stem}.safetensors weights in {folder}")


def save_single_file(pipeline_dir: str | Path, out_path: str | Path) -> Path:
    """Write the SD 1.x diffusers folder ``pipeline_dir`` as one LDM-layout .safetensors file."""
    pipeline_dir, out_path = Path(pipeline_dir), Path(out_path)
    parts = [
        _convert_unet(*_load_component(pipeline_dir / "unet", "diffusion_pytorch_model")),
        _convert_vae(*_load_component(pipeline_dir / "vae", "diffusion_pytorch_model")),
        _convert_text_encoder(_load_component(pipeline_dir / "text_encoder", "model")[0]),
    ]
    checkpoint = {k: v.contiguous() for part in parts for k, v in part.items()}
    expected = sum(len(p) for p in parts)
    if len(checkpoint) != expected:  # a mapping bug would silently drop weights
        raise RuntimeError(f"key collision while converting: {expected} tensors -> {len(checkpoint)} keys")

    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_file(checkpoint, str(out_path), metadata={"format": "pt"})
    return out_path
