"""FLUX.1 and SD 3 models from diffusers folders, hub repos and single files, quantized as asked.

A single file is either a whole checkpoint or, as Forge and ComfyUI users keep fine-tunes and GGUF files
(`diffusion_models/`, `unet/`), the transformer alone. The transformer alone is completed with the other parts
(CLIP and T5, VAE, scheduler) of the folder or hub repo that `config:` names, else of the official repo of its
family and kind (FLUX.1-dev for a guidance-distilled FLUX transformer, schnell for one without guidance).
Quantization (quantization.py) is chosen per model: `quantize:` in the library, else `--quantize`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch

from . import quantization
from .catalog import ModelEntry
from .errors import ModelLoadError
from .flow_families import DEFAULT_REPOS, TRANSFORMER_CLASSES, transformer_only, variant_from_keys
from .model_sources import locate

# What a base repo must give for a transformer file: everything but its own transformer's weights
OTHER_PARTS_IGNORED = ["transformer/*.safetensors", "transformer/*.gguf"]


def formats(entry: ModelEntry, default: str | None) -> tuple[dict[str, str], list[str]]:
    """(role -> format for the transformer and T5, notes on formats that could not be used)."""
    notes = []
    transformer, note = _resolved(entry, entry.quantize or default, "quantize" if entry.quantize else "--quantize")
    notes += [note] if note else []
    t5, note = _resolved(entry, entry.quantize_text_encoder, "quantize_text_encoder")
    notes += [note] if note else []
    return {"transformer": transformer, "text_encoder_t5": t5}, notes


def _resolved(entry: ModelEntry, choice, field):
    try:
        return quantization.resolve(choice, field)
    except quantization.QuantizationError as error:
        raise ModelLoadError(entry.name, str(error)) from None


def load_folder(entry: ModelEntry, folder: Path, dtype: torch.dtype, default_quantize: str | None):
    """(pipeline, notes) of a diffusers folder of a FLUX or SD 3 model, its transformer (and T5) quantized."""
    from diffusers import DiffusionPipeline

    chosen, notes = formats(entry, default_quantize)
    class_name = json.loads((folder / "model_index.json").read_text()).get("_class_name", "")
    by_role = {"transformer": chosen["transformer"], quantization.t5_role(class_name): chosen["text_encoder_t5"]}
    pipeline = DiffusionPipeline.from_pretrained(folder, torch_dtype=dtype, local_files_only=True,
                                                 **quantization.loading_arguments(by_role, dtype))
    _store_fp8(pipeline, by_role, dtype)
    return pipeline, notes


def load_file(entry: ModelEntry, path: Path, family: str, keys: set[str], dtype: torch.dtype,
              default_quantize: str | None, fetch: Callable[[str, str], str]):
    """(pipeline, notes) of a single file: the transformer alone (safetensors or GGUF) with the rest of the model
    from `config:` or the official repo, or a whole checkpoint. `fetch(name, repo)` downloads a repo's other parts."""
    import diffusers

    chosen, notes = formats(entry, default_quantize)
    base = _other_parts(entry, family, keys, fetch)
    class_name = json.loads((base / "model_index.json").read_text()).get("_class_name", "")
    if not transformer_only(keys):  # a whole checkpoint: its own VAE (and encoders where it has them)
        pipeline = getattr(diffusers, class_name).from_single_file(str(path), config=str(base), torch_dtype=dtype,
                                                                   local_files_only=True)
        _store_fp8(pipeline, {"transformer": chosen["transformer"]}, dtype)
        return pipeline, notes
    model_class = getattr(diffusers, TRANSFORMER_CLASSES[family])
    arguments = {}
    if path.suffix.lower() == ".gguf":
        if entry.quantize:
            notes.append(f"quantize: {path.name} is GGUF-quantized already; quantize: {entry.quantize} was not used")
        arguments["quantization_config"] = quantization.gguf_config(dtype)
        chosen["transformer"] = "gguf"
    elif chosen["transformer"] == "nf4":
        from diffusers import BitsAndBytesConfig

        arguments["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                              bnb_4bit_compute_dtype=dtype)
    transformer = model_class.from_single_file(str(path), config=str(base), subfolder="transformer",
                                               torch_dtype=dtype, local_files_only=True, **arguments)
    t5 = {quantization.t5_role(class_name): chosen["text_encoder_t5"]}
    pipeline = diffusers.DiffusionPipeline.from_pretrained(base, transformer=transformer, torch_dtype=dtype,
                                                           local_files_only=True,
                                                           **quantization.loading_arguments(t5, dtype))
    _store_fp8(pipeline, {"transformer": chosen["transformer"], **t5}, dtype)
    return pipeline, notes


def _other_parts(entry: ModelEntry, family: str, keys: set[str], fetch) -> Path:
    if entry.config:
        config = locate(entry.config, entry.base_dir)
        if config.kind == "folder":
            return Path(config.where)
        if config.kind == "missing":
            raise ModelLoadError(entry.name, f"config: no such folder {config.where}")
        return Path(fetch(entry.name, config.where))
    return Path(fetch(entry.name, DEFAULT_REPOS[family, variant_from_keys(family, keys)]))


def _store_fp8(pipeline, by_role: dict[str, str], dtype: torch.dtype) -> None:
    for role, fmt in by_role.items():
        module = getattr(pipeline, role, None)
        if fmt == "fp8" and isinstance(module, torch.nn.Module):
            quantization.store_fp8(module, dtype)
