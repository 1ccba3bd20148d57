"""Round-trip tests for pipelines.single_file_export.

A tiny random SD 1.x pipeline is exported to the original (LDM) layout and
loaded back through diffusers' real single-file code path.  The ``config=``
folder handed to ``from_single_file`` holds only configs and tokenizer files,
no weights: if diffusers failed to find a component in our file it could not
silently fall back to the folder's weights.
"""

import json
import re
import shutil

import numpy as np
import pytest
import torch
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from diffusers.loaders.single_file_utils import (
    CHECKPOINT_KEY_NAMES,
    infer_diffusers_model_type,
    load_single_file_checkpoint,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from pipelines.single_file_export import save_single_file

try:  # transformers 4.x
    from transformers.models.clip.tokenization_clip import bytes_to_unicode
except ImportError:  # transformers 5.x
    from transformers.convert_slow_tokenizer import bytes_to_unicode

# name -> (UNet kwargs, VAE kwargs).  "sd15_shape" mirrors SD 1.5's 4-level,
# 2-layers-per-block topology (so it has the literal v1 marker key); the others
# exercise other block counts, layers_per_block and attention placements.
LAYOUTS = {
    "two_level": (
        dict(block_out_channels=(32, 64), layers_per_block=2,
             down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
             up_block_types=("UpBlock2D", "CrossAttnUpBlock2D")),
        dict(block_out_channels=[32, 64], layers_per_block=1),
    ),
    "three_level_lpb1": (
        dict(block_out_channels=(32, 32, 64), layers_per_block=1,
             down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
             up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")),
        dict(block_out_channels=[32, 32, 64], layers_per_block=2),
    ),
    "sd15_shape": (
        dict(block_out_channels=(32, 32, 64, 64), layers_per_block=2,
             down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
             up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3),
        dict(block_out_channels=[32, 32, 64, 64], layers_per_block=2),
    ),
}

# Module slots of a real SD 1.5 checkpoint (model.diffusion_model.* and
# first_stage_model.*), written out by hand; "sd15_shape" must produce exactly
# these.  diffusers' loader would also accept an upsampler in slot 1 after an
# attention, so only this check pins the real layout down.
SD15_UNET_SLOTS = (
    {"time_embed.0", "time_embed.2", "input_blocks.0.0", "out.0", "out.2"}
    | {f"input_blocks.{i}.{j}" for i in (1, 2, 4, 5, 7, 8) for j in (0, 1)}
    | {"input_blocks.3.0", "input_blocks.6.0", "input_blocks.9.0", "input_blocks.10.0", "input_blocks.11.0"}
    | {"middle_block.0", "middle_block.1", "middle_block.2"}
    | {"output_blocks.0.0", "output_blocks.1.0", "output_blocks.2.0", "output_blocks.2.1"}
    | {f"output_blocks.{i}.{j}" for i in range(3, 12) for j in (0, 1)}
    | {"output_blocks.5.2", "output_blocks.8.2"}
)
SD15_VAE_SLOTS = (
    {f"{c}.{m}" for c in ("encoder", "decoder") for m in
     ("conv_in", "conv_out", "norm_out", "mid.block_1", "mid.block_2", "mid.attn_1")}
    | {"quant_conv", "post_quant_conv"}
    | {f"encoder.down.{i}.block.{j}" for i in range(4) for j in range(2)}
    | {f"encoder.down.{i}.downsample" for i in range(3)}
    | {f"decoder.up.{i}.block.{j}" for i in range(4) for j in range(3)}
    | {f"decoder.up.{i}.upsample" for i in range(1, 4)}
)
_UNET_SLOT = re.compile(r"model\.diffusion_model\.((?:input|output)_blocks\.\d+\.\d+|\w+\.\d+)\.")
_VAE_SLOT = re.compile(
    r"first_stage_model\.((?:encoder\.down|decoder\.up)\.\d+\.(?:block\.\d+|\w+sample)"
    r"|\w+coder\.(?:mid\.\w+|\w+)|\w+)\.")


def _tokenizer(tmp_path):
    # Byte-level vocab without merges: every character is its own token, which
    # is all a random-weight test model needs, and needs no download.
    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    src = tmp_path / "tokenizer_src"
    src.mkdir()
    (src / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (src / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer.from_pretrained(src, model_max_length=77)


def _build_pipeline(tmp_path, layout):
    unet_kwargs, vae_kwargs = LAYOUTS[layout]
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=32, in_channels=4, out_channels=4, cross_attention_dim=32,
        attention_head_dim=8, norm_num_groups=32, **unet_kwargs,
    )
    n = len(vae_kwargs["block_out_channels"])
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=32,
        down_block_types=["DownEncoderBlock2D"] * n, up_block_types=["UpDecoderBlock2D"] * n,
        **vae_kwargs,
    )
    tokenizer = _tokenizer(tmp_path)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=5,
        vocab_size=1000, max_position_embeddings=77, projection_dim=32,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    ))
    # Random init leaves norms at exactly 1/0; perturb every tensor so that a
    # swapped or dropped weight cannot go unnoticed.
    with torch.no_grad():
        for model in (unet, vae, text_encoder):
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.02)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    folder = tmp_path / "diffusers"
    pipe.save_pretrained(folder, safe_serialization=True)
    # Configs only: from_single_file must take every weight from our file.
    configs = tmp_path / "configs"
    shutil.copytree(folder, configs, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    return pipe.to("cpu"), folder, configs


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def exported(request, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp(request.param)
    original, folder, configs = _build_pipeline(tmp_path, request.param)
    path = save_single_file(folder, tmp_path / "model.safetensors")
    loaded = StableDiffusionPipeline.from_single_file(
        str(path), config=str(configs), local_files_only=True,
    )
    return request.param, original, path, loaded


def test_checkpoint_is_original_layout_sd_v1(exported):
    layout, original, path, _ = exported
    ckpt = load_single_file_checkpoint(str(path), local_files_only=True)
    prefixes = ("model.diffusion_model.", "first_stage_model.", "cond_stage_model.transformer.text_model.")
    assert all(k.startswith(prefixes) for k in ckpt)
    n_weights = sum(len(m.state_dict()) for m in (original.unet, original.vae)) + sum(
        1 for k in original.text_encoder.state_dict() if not k.endswith("position_ids"))
    assert len(ckpt) == n_weights  # nothing dropped, nothing merged
    assert infer_diffusers_model_type(ckpt) == "v1"
    assert CHECKPOINT_KEY_NAMES["clip"] in ckpt  # how diffusers spots the CLIP text encoder
    assert ckpt["first_stage_model.decoder.mid.attn_1.q.weight"].ndim == 4  # 1x1 conv in LDM
    assert "model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_k.weight" in ckpt
    if layout == "sd15_shape":  # same topology as SD 1.5 -> same slots, literal v1 marker key
        assert CHECKPOINT_KEY_NAMES["v1"] in ckpt
        assert {m[1] for k in ckpt if (m := _UNET_SLOT.match(k))} == SD15_UNET_SLOTS
        assert {m[1] for k in ckpt if (m := _VAE_SLOT.match(k))} == SD15_VAE_SLOTS


def test_all_weights_round_trip_exactly(exported):
    _, original, _, loaded = exported
    for name in ("unet", "vae", "text_encoder"):
        want, got = getattr(original, name).state_dict(), getattr(loaded, name).state_dict()
        assert want.keys() == got.keys(), name
        for key, tensor in want.items():
            assert got[key].device.type == "cpu", f"{name}.{key} was never loaded"
            assert torch.equal(tensor, got[key]), f"{name}.{key} differs"


def test_generation_is_pixel_identical(exported):
    _, original, _, loaded = exported
    images = [
        pipe("a photo of a cat", num_inference_steps=2, height=64, width=64, output_type="np",
             generator=torch.Generator("cpu").manual_seed(0)).images
        for pipe in (original, loaded)
    ]
    assert images[0].shape == (1, 64, 64, 3)
    assert np.isfinite(images[0]).all() and images[0].std() > 0  # not a degenerate image
    assert np.array_equal(images[0], images[1])


def test_rejects_per_block_layers(tmp_path):
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=(1, 2), sample_size=32, cross_attention_dim=32,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    )
    unet.save_pretrained(tmp_path / "unet")
    with pytest.raises(ValueError, match="layers_per_block"):
        save_single_file(tmp_path, tmp_path / "out.safetensors")
