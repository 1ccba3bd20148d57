"""Quantized weights for the transformer families, so that FLUX.1 and SD 3.5 fit consumer GPUs.

Three formats, each through the library that does it well:
- GGUF (city96's and others' `.gguf` files): diffusers' GGUF quantizer keeps the blocks packed in memory and
  dequantizes each layer as it computes; the format comes with the file.
- fp8 storage: weights kept in float8 (half of fp16's bytes) and cast up to the compute precision layer by layer
  as each runs (diffusers' layerwise casting); works on any device.
- NF4: bitsandbytes' 4-bit NormalFloat (a quarter of fp16's bytes), through diffusers' quantization config;
  bitsandbytes computes it on NVIDIA GPUs only, so elsewhere Easel says so and stores fp8 instead.
Chosen per model (`quantize:` in the library file) or for every transformer model (`--quantize`); T5, the
largest text encoder, is quantized only when asked (`quantize_text_encoder:`).
"""

from __future__ import annotations

import importlib.util

import torch

CHOICES = ("none", "fp8", "nf4")
FP8 = torch.float8_e4m3fn
# Layers kept in the compute precision under fp8 storage (diffusers casts only linear and convolution layers; norms
# stay as they are): the small ones in and out, where an error would reach every later layer, T5's feed-forward
# output `wo` (it casts its input to its weights' dtype; transformers keeps it in fp32) and T5's token embedding
# (the pipelines read its dtype as the encoder's). Unlike diffusers' default, the adaptive norms' modulation layers
# ("norm1.linear", a sixth of FLUX's weights) are stored in fp8 too, as Forge and ComfyUI store them: that is what
# brings FLUX.1's transformer under 12 GB.
FP8_KEPT = ("pos_embed", "patch_embed", "x_embedder", "context_embedder", "time_text_embed", "norm_out",
            r"^proj_in$", r"^proj_out$", r"\.wo$", r"^shared$", "embed_tokens")


class QuantizationError(ValueError):
    """A quantization these packages or this machine cannot do; the message names the setting."""


def nf4_unavailable() -> str | None:
    """Why NF4 cannot run here, or None: bitsandbytes installed and an NVIDIA GPU present."""
    if importlib.util.find_spec("bitsandbytes") is None:
        return "NF4 needs the bitsandbytes package (pip install bitsandbytes), which is not installed"
    if not torch.cuda.is_available():
        return "NF4 needs an NVIDIA GPU (bitsandbytes computes 4-bit weights with CUDA), and this machine has none"
    return None


def resolve(choice: str | None, field: str) -> tuple[str, str | None]:
    """(the format to use, a note when it is not the one asked for). Unknown names are refused."""
    choice = (choice or "none").lower()
    if choice not in CHOICES:
        raise QuantizationError(f"{field}: unknown quantization {choice!r}; use one of {', '.join(CHOICES)} (a .gguf "
                                "file is quantized already)")
    if choice == "nf4":
        reason = nf4_unavailable()
        if reason:
            return "fp8", f"{field}: {reason}; its weights are stored in fp8 instead"
    return choice, None


def loading_arguments(formats: dict[str, str], compute_dtype: torch.dtype) -> dict:
    """The keyword arguments of `DiffusionPipeline.from_pretrained` that quantize while loading: NF4, for the
    components (role -> format) that ask for it."""
    components = [role for role, fmt in formats.items() if fmt == "nf4"]
    if not components:
        return {}
    from diffusers import PipelineQuantizationConfig

    return {"quantization_config": PipelineQuantizationConfig(
        quant_backend="bitsandbytes_4bit", components_to_quantize=components,
        quant_kwargs={"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_compute_dtype": compute_dtype})}


def t5_role(pipeline_class_name: str) -> str:
    """Where the pipeline keeps T5: FLUX's second text encoder, SD 3's third."""
    return "text_encoder_2" if "Flux" in pipeline_class_name else "text_encoder_3"


def store_fp8(module: torch.nn.Module, compute_dtype: torch.dtype) -> None:
    """Keep the module's weights in fp8 and compute each layer in `compute_dtype` (diffusers' layerwise casting)."""
    from diffusers.hooks import apply_layerwise_casting

    apply_layerwise_casting(module, storage_dtype=FP8, compute_dtype=compute_dtype, non_blocking=False,
                            skip_modules_pattern=FP8_KEPT)


def gguf_config(compute_dtype: torch.dtype):
    from diffusers import GGUFQuantizationConfig

    if importlib.util.find_spec("gguf") is None:
        raise QuantizationError("a .gguf file needs the gguf package (pip install gguf), which is not installed")
    return GGUFQuantizationConfig(compute_dtype=compute_dtype)


def format_of(module: torch.nn.Module) -> str:
    """What the Models tab shows of a component's weights: "GGUF Q8_0", "NF4", "fp8 storage", or its dtype."""
    kinds = set()
    for parameter in module.parameters():
        quant_type = getattr(parameter, "quant_type", None)
        if quant_type is not None and type(parameter).__name__ == "GGUFParameter":
            kinds.add(f"GGUF {getattr(quant_type, 'name', quant_type)}")
        elif type(parameter).__name__ == "Params4bit":
            kinds.add(str(getattr(parameter, "quant_type", "nf4")).upper())
        elif parameter.dtype == FP8:
            kinds.add("fp8 storage")
    if kinds:
        return ", ".join(sorted(kinds))
    for parameter in module.parameters():
        return str(parameter.dtype).replace("torch.", "")
    return ""
