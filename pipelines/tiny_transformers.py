"""Tiny random-weight SD 3 and FLUX.1 models (tiny.py writes them beside the UNet families' ones).

    sd3-tiny/                        an SD 3-like model: an MMDiT transformer, two CLIP encoders and a T5, 16-channel VAE
    flux-tiny/                       a FLUX.1-dev-like model: a guidance-distilled transformer, CLIP and T5, 16-channel VAE
    flux-tiny-transformer.safetensors  the FLUX transformer alone, as Forge and ComfyUI users keep a fine-tune
    flux-tiny-Q8_0.gguf              the same transformer quantized to GGUF Q8_0 (the layout of city96's files)
    flux-tiny-lora.safetensors       a LoRA for it (a1111/models/Lora/), in diffusers' transformer layout
    controlnet-flux-canny-tiny/ controlnet-flux-union-tiny/ controlnet-sd3-canny-tiny/  their ControlNets

Their structure is kept real where the code depends on it: 16 latent channels, a VAE that scales by 8, FLUX's 2x2
latent packing, a T5 tokenizer whose sequence length is cut at `max_sequence_length`.
"""

from __future__ import annotations

from pathlib import Path

from .tiny import TINY_SIZE, _byte_level_alphabet, _text_encoder, _tokenizer

FLUX_SHIFTS = dict(use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15, base_image_seq_len=256,
                   max_image_seq_len=4096, shift=3.0)  # FLUX.1-dev's scheduler config
SD3_SHIFT = 3.0  # SD 3.5's


def _t5(width: int = 32):
    from transformers import T5Config, T5EncoderModel, T5Tokenizer

    # One piece per character (a Unigram vocabulary without merges), as the CLIP tokenizer of tiny.py
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), *((c, -1.0) for c in _byte_level_alphabet()), ("▁", -1.0)]
    tokenizer = T5Tokenizer(vocab=pieces, extra_ids=0)
    config = T5Config(vocab_size=len(tokenizer), d_model=width, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
                      relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    return tokenizer, T5EncoderModel(config)


def _vae():
    from diffusers import AutoencoderKL

    # FLUX's and SD 3's VAE: 16 channels, a shift as well as a scale, no quant convolutions
    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                         up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 16, 16),
                         layers_per_block=1, latent_channels=16, norm_num_groups=8, sample_size=TINY_SIZE,
                         use_quant_conv=False, use_post_quant_conv=False, scaling_factor=0.3611, shift_factor=0.1159)


def build_flux(guidance: bool = True):
    """FLUX.1-dev's layout (`guidance`: the distilled guidance embedding; without it, schnell's)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    tokenizer = _tokenizer()
    t5_tokenizer, t5 = _t5()
    # 64 input channels: 16 latent channels packed 2x2; rope axes add up to the head width, as in the real one
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=1, num_single_layers=2,
                                         attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                                         pooled_projection_dim=32, guidance_embeds=guidance, axes_dims_rope=(4, 6, 6))
    return FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(**FLUX_SHIFTS), vae=_vae(),
                        text_encoder=_text_encoder(tokenizer), tokenizer=tokenizer, text_encoder_2=t5,
                        tokenizer_2=t5_tokenizer, transformer=transformer)


def build_sd3():
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    tokenizer = _tokenizer()
    # SD 3 pads both CLIP encoders' features (32 + 32 here, 768 + 1280 in the real one) to T5's width and joins
    # them along the sequence: T5 is the wider (64 here, 4096), and the pooled vector is both CLIPs' (32 + 32)
    t5_tokenizer, t5 = _t5(width=64)
    transformer = SD3Transformer2DModel(sample_size=TINY_SIZE // 8, patch_size=2, in_channels=16, out_channels=16,
                                        num_layers=2, attention_head_dim=8, num_attention_heads=4,
                                        joint_attention_dim=64, caption_projection_dim=32, pooled_projection_dim=64,
                                        pos_embed_max_size=32)
    return StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=SD3_SHIFT), vae=_vae(),
        text_encoder=_text_encoder(tokenizer, with_projection=True), tokenizer=tokenizer,
        text_encoder_2=_text_encoder(tokenizer, with_projection=True, hidden_act="gelu"), tokenizer_2=tokenizer,
        text_encoder_3=t5, tokenizer_3=t5_tokenizer)


def build_controlnet(pipeline, union_modes: int | None = None):
    """A ControlNet over the tiny transformer: FLUX's (a union one with `union_modes`) or SD 3's."""
    from diffusers import FluxControlNetModel, SD3ControlNetModel

    if isinstance(pipeline.transformer.config.get("guidance_embeds"), bool):
        controlnet = FluxControlNetModel.from_transformer(pipeline.transformer, num_layers=1, num_single_layers=1,
                                                          attention_head_dim=16, num_attention_heads=2)
        if union_modes:  # the same, with a mode embedding (InstantX's and Shakker-Labs' union layout)
            config = {k: v for k, v in controlnet.config.items() if not k.startswith("_") and k != "out_channels"}
            controlnet = FluxControlNetModel(**{**config, "num_mode": union_modes})
    else:
        controlnet = SD3ControlNetModel.from_transformer(pipeline.transformer, num_layers=1,
                                                         num_extra_conditioning_channels=0)
    return _trained_looking(controlnet)


def _trained_looking(controlnet):
    """A new ControlNet's output layers start at zero (so training starts from the base model): random here, so that
    the tiny one steers the picture as a trained one does."""
    import torch

    with torch.no_grad():
        for parameter in controlnet.parameters():
            if not parameter.any():
                parameter.normal_(std=0.2)
    return controlnet


def build_flux_lora(transformer):
    """A LoRA on the FLUX transformer's attention, in diffusers' layout (`transformer.<module>.lora_A.weight`);
    its up matrices are random too (peft starts them at zero), so that it changes the picture."""
    import torch
    from peft import LoraConfig, get_peft_model_state_dict

    config = LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v"], init_lora_weights=False)
    transformer.add_adapter(config)
    state = {f"transformer.{k}": v.detach().clone() * 4 for k, v in get_peft_model_state_dict(transformer).items()}
    return {k: v.to(torch.float32).contiguous() for k, v in state.items()}


def write_gguf(safetensors_file: Path, target: Path) -> None:
    """The transformer's weights as GGUF: matrices in Q8_0 (blocks of 32), vectors in F32, as quantizers do."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    writer = gguf.GGUFWriter(str(target), "flux")
    for name, array in load_file(str(safetensors_file)).items():
        array = array.astype(np.float32)
        if array.ndim == 2 and array.shape[1] % 32 == 0:
            quantized = gguf.quants.quantize(array, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(name, quantized, raw_shape=quantized.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def writers(root: Path) -> dict:
    """tiny.py's writer per artefact name; the FLUX files after flux-tiny (they are read from it)."""
    built: dict = {}

    def flux():
        if "flux" not in built:
            built["flux"] = build_flux()
        return built["flux"]

    def sd3():
        if "sd3" not in built:
            built["sd3"] = build_sd3()
        return built["sd3"]

    transformer_file = root / "flux-tiny" / "transformer" / "diffusion_pytorch_model.safetensors"
    return {
        "sd3-tiny": lambda path: sd3().save_pretrained(path),
        "controlnet-sd3-canny-tiny": lambda path: build_controlnet(sd3()).save_pretrained(path),
        "controlnet-flux-canny-tiny": lambda path: build_controlnet(flux()).save_pretrained(path),
        "controlnet-flux-union-tiny": lambda path: build_controlnet(flux(), union_modes=10).save_pretrained(path),
        "flux-tiny": lambda path: flux().save_pretrained(path),
        "flux-tiny-transformer.safetensors": lambda path: path.write_bytes(transformer_file.read_bytes()),
        "flux-tiny-Q8_0.gguf": lambda path: write_gguf(transformer_file, path),
        "a1111/models/Lora/flux-tiny-lora.safetensors": lambda path: _write_lora(root, path),
    }


def _write_lora(root: Path, path: Path) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(build_flux_lora(_loaded_transformer(root)), str(path))


def _loaded_transformer(root: Path):
    from diffusers import FluxTransformer2DModel

    return FluxTransformer2DModel.from_pretrained(root / "flux-tiny", subfolder="transformer")
