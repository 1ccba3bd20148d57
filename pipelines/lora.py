"""LoRA files: read once and kept in the RAM cache, applied for one run with diffusers' loaders and peft.

A LoRA is loaded into the base model's UNet and text encoders right before the run and unloaded right
after it (diffusers' `unload_lora_weights` puts the original layers back), all under the device lock, so
the next run, another user's included, gets the model as it was. The base model itself is never reloaded.

diffusers reads both the kohya/A1111 layout (`lora_unet_...lora_down.weight`) and its own peft layout,
and the LyCORIS variants it converts. A LoRA made for another family is left out with a message naming
both: its cross-attention width says which family it was trained on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from .catalog import FAMILIES
from .model_sources import FAMILY_BY_CONTEXT, PICKLE_SUFFIXES

log = logging.getLogger(__name__)



class LoraError(Exception):
    """A LoRA that cannot be used for this run: the message says why and names the file."""


@dataclass
class LoraFile:
    name: str
    state_dict: dict  # tensors on the CPU, as read from the file
    context_width: int | None  # the cross-attention input width it was trained for, when it has such layers
    nbytes: int
    transformer_family: str | None = None  # "flux" or "sd3" for a LoRA of a diffusion transformer


def read(name: str, path: Path, allow_pickle: bool) -> LoraFile:
    """Read a LoRA file. Raises LoraError naming the file when it cannot be a LoRA."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            state_dict = load_file(str(path))
        elif suffix in PICKLE_SUFFIXES:
            if not allow_pickle:
                raise LoraError(f"{path.name} is a pickle file ({suffix}); loading one can run code hidden in it. "
                                "Use a .safetensors LoRA, or start with --allow-pickle if you trust it")
            state_dict = torch.load(str(path), map_location="cpu", weights_only=True)
        else:
            raise LoraError(f"{path.name}: unknown LoRA file type {suffix!r}")
    except LoraError:
        raise
    except Exception as error:  # noqa: BLE001 - truncated or not a tensor file: the same to the user
        raise LoraError(f"{path.name} could not be read ({type(error).__name__}: {error}); it may be incomplete") from None
    if not any(_is_lora_key(key) for key in state_dict):
        raise LoraError(f"{path.name} holds no LoRA weights (no lora_down/lora_up or lora_A/lora_B tensors)")
    nbytes = sum(t.numel() * t.element_size() for t in state_dict.values() if isinstance(t, torch.Tensor))
    return LoraFile(name, state_dict, context_width(state_dict), nbytes, transformer_family(state_dict))


def _is_lora_key(key: str) -> bool:
    return any(part in key for part in ("lora_down", "lora_up", "lora_A", "lora_B", "lora.down", "lora.up",
                                        "hada_w1", "lokr_w1"))


def context_width(state_dict: dict) -> int | None:
    """The width of a cross-attention key projection's input, read from its down (A) matrix."""
    for key, tensor in state_dict.items():
        if "attn2" in key and "to_k" in key and any(d in key for d in ("lora_down", "lora_A", "lora.down")):
            return int(tensor.shape[1])
    return None


# Block names of the transformer families' LoRAs, in diffusers', kohya's and BFL's / Stability's layouts
_TRANSFORMER_BLOCKS = (("single_transformer_blocks", "flux"), ("single_blocks", "flux"), ("double_blocks", "flux"),
                       ("joint_blocks", "sd3"), ("transformer.transformer_blocks", "sd3"),
                       ("lora_transformer_transformer_blocks", "sd3"))


def transformer_family(state_dict: dict) -> str | None:
    """"flux" or "sd3" for a LoRA of those transformers (FLUX's has single-stream blocks, SD 3's joint ones only)."""
    found = {family for key in state_dict for block, family in _TRANSFORMER_BLOCKS if block in key}
    return "flux" if "flux" in found else next(iter(found), None)


def family_label(width: int) -> str:
    family = FAMILY_BY_CONTEXT.get(width)
    return FAMILIES[family].label if family else f"a model with {width}-wide text features"


def check_fits(lora: LoraFile, pipeline, model_name: str, model_family: str) -> None:
    transformer_model = not FAMILIES[model_family].unet
    if lora.transformer_family or transformer_model:  # FLUX / SD 3: by their blocks, not a cross-attention width
        if lora.transformer_family != model_family:
            made_for = (FAMILIES[lora.transformer_family].label if lora.transformer_family
                        else family_label(lora.context_width) if lora.context_width else "a UNet model")
            raise LoraError(f"the LoRA {lora.name} is for {made_for} but the model {model_name} is "
                            f"{FAMILIES[model_family].label}; they cannot be used together")
        return
    expected = pipeline.unet.config.cross_attention_dim
    if lora.context_width is not None and lora.context_width != expected:
        raise LoraError(f"the LoRA {lora.name} is for {family_label(lora.context_width)} but the model {model_name} "
                        f"is {FAMILIES[model_family].label}; they cannot be used together")


@dataclass(frozen=True)
class Applied:
    name: str
    te_weight: float
    unet_weight: float


def apply(pipeline, loras: list[tuple[LoraFile, float, float]]) -> list[Applied]:
    """Load the LoRAs into the pipeline's modules with their text-encoder and UNet weights."""
    names, weights, applied = [], [], []
    for i, (lora, te_weight, unet_weight) in enumerate(loras):
        adapter = f"easel_lora_{i}"
        try:
            # a shallow copy: diffusers pops keys while it converts, and the cached dict must stay whole
            pipeline.load_lora_weights(dict(lora.state_dict), adapter_name=adapter)
        except Exception as error:  # noqa: BLE001 - a layout diffusers cannot convert, or shapes that do not fit
            remove(pipeline)
            raise LoraError(f"the LoRA {lora.name} could not be applied ({type(error).__name__}: {error})") from None
        names.append(adapter)
        # A1111's "unet" weight goes to the denoiser, whichever it is (a FLUX / SD 3 transformer)
        weights.append({module: unet_weight if module in ("unet", "transformer") else te_weight
                        for module in pipeline._lora_loadable_modules})
        applied.append(Applied(lora.name, te_weight, unet_weight))
    if names:
        pipeline.set_adapters(names, adapter_weights=weights)
    return applied


def remove(pipeline) -> None:
    """Take every LoRA layer out again: the modules are the base model's own once more."""
    if getattr(pipeline, "get_list_adapters", None) and any(pipeline.get_list_adapters().values()):
        pipeline.unload_lora_weights()
