"""Where a model reference points (file, folder, hub id) and which family it is, read without loading weights.

Nothing here imports torch: the page asks for the family of every model in the library (its dropdown labels)
before the engine is imported, and the loader asks the same before it loads anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .flow_families import CONTROLNET_CLASSES, family_from_keys, family_from_transformer_config, few_step, variant_from_keys

if TYPE_CHECKING:  # the catalog labels its models with `model_label`: no import cycle at run time
    from .catalog import ModelEntry


# The width of the text features a family's cross-attention reads: the family of a LoRA or a ControlNet.
FAMILY_BY_CONTEXT = {768: "sd1", 1024: "sd2", 2048: "sdxl"}
PICKLE_SUFFIXES = {".ckpt", ".pt", ".pth", ".bin", ".pkl"}  # loading these runs arbitrary code
SINGLE_FILE_SUFFIXES = {".safetensors", ".gguf", *PICKLE_SUFFIXES}


@dataclass
class Location:
    kind: str  # "file", "folder" or "hub"
    where: str


def locate(source: str, base_dir: Path | None) -> Location:
    """Say what a `source` refers to: an existing file or folder (relative to the library), else a hub id."""
    path = Path(source).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if path.is_file():
        return Location("file", str(path))
    if path.is_dir():
        return Location("folder", str(path))
    if path.suffix.lower() in SINGLE_FILE_SUFFIXES or source.startswith(("/", ".", "~")) or source.count("/") != 1:
        return Location("missing", str(path))
    return Location("hub", source)


# --- family detection ----------------------------------------------------------------------------


def family_from_unet_config(config: dict) -> str:
    if config.get("addition_embed_type") == "text_time":  # SDXL's micro-conditioning
        # the refiner embeds five numbers (sizes, crop, aesthetic score) beside a pooled text vector as wide as
        # its text features (one encoder, bigG); the base six beside a vector narrower than its two encoders'
        time_embeds = 5 * (config.get("addition_time_embed_dim") or 0)
        if config.get("projection_class_embeddings_input_dim", 0) - time_embeds == config.get("cross_attention_dim"):
            return "sdxl_refiner"
        return "sdxl"
    if config.get("cross_attention_dim") == 1024:  # OpenCLIP ViT-H text features
        return "sd2"
    return "sd1"


def controlnet_family_from_config(config: dict) -> str:
    """The family a ControlNet is for: FLUX's and SD 3's by their class, the UNet families' by their UNet config."""
    return CONTROLNET_CLASSES.get(config.get("_class_name", "")) or family_from_unet_config(config)


def family_from_single_file_keys(keys: set[str]) -> str:
    transformer_family = family_from_keys(keys)  # FLUX.1 or SD 3, whole or the transformer alone
    if transformer_family:
        return transformer_family
    if any(k.startswith("conditioner.embedders.1.") for k in keys):
        return "sdxl"
    if any(k.startswith("conditioner.embedders.0.model.") for k in keys):  # bigG alone: the refiner
        return "sdxl_refiner"
    if any(k.startswith("cond_stage_model.model.") for k in keys):
        return "sd2"
    if any(k.startswith("cond_stage_model.transformer.") for k in keys):
        return "sd1"
    raise ValueError("its tensors are not those of an SD 1.x, SD 2.x, SDXL, SDXL refiner, SD 3 or FLUX.1 checkpoint")


def peek(entry: "ModelEntry") -> tuple[str, bool] | None:
    """(family, inpainting) from configs or tensor names alone, without loading weights; None if unknown yet."""
    location = locate(entry.source, entry.base_dir)
    try:
        if location.kind == "folder":
            return peek_folder(Path(location.where))
        if location.kind == "file" and location.where.endswith(".safetensors"):
            return peek_safetensors(location.where)
        if location.kind == "file" and location.where.endswith(".gguf"):
            return peek_gguf(location.where)
        if location.kind == "hub":
            folder = _cached_snapshot(entry)
            return peek_folder(Path(folder)) if folder else None
    except Exception:  # noqa: BLE001 - unreadable here: loading will say why, with the model's name
        return None
    return None


def peek_folder(folder: Path) -> tuple[str, bool]:
    if not (folder / "unet" / "config.json").is_file() and (folder / "transformer" / "config.json").is_file():
        family = family_from_transformer_config(json.loads((folder / "transformer" / "config.json").read_text()))
        if family is None:
            raise ValueError(f"{folder}: its transformer is neither an SD 3 nor a FLUX.1 one")
        return family, False
    config = json.loads((folder / "unet" / "config.json").read_text())
    return family_from_unet_config(config), config.get("in_channels") == 9


def transformer_config(folder: Path) -> dict:
    """A transformer model's transformer config ({} for a UNet model)."""
    path = folder / "transformer" / "config.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def timestep_distilled(entry: "ModelEntry") -> bool:
    """A FLUX.1 schnell-like model, read from its transformer: no guidance input, made for 1-4 steps."""
    location = locate(entry.source, entry.base_dir)
    try:
        if location.kind == "folder":
            return timestep_distilled_folder(Path(location.where))
        if location.kind == "hub":
            folder = _cached_snapshot(entry)
            return bool(folder) and timestep_distilled_folder(Path(folder))
        if location.kind == "file" and location.where.endswith((".safetensors", ".gguf")):
            keys = file_keys(Path(location.where))
            return family_from_keys(keys) == "flux" and not variant_from_keys("flux", keys)
    except Exception:  # noqa: BLE001 - unreadable: loading says why
        return False
    return False


def timestep_distilled_folder(folder: Path) -> bool:
    config = transformer_config(folder)
    return family_from_transformer_config(config) == "flux" and few_step("flux", config)


def file_keys(path: Path) -> set[str]:
    """The tensor names of a .safetensors or .gguf file, from its header (no tensor is read, no torch)."""
    if path.suffix.lower() == ".gguf":
        from gguf import GGUFReader  # maps the file; reads the header only

        return {tensor.name for tensor in GGUFReader(str(path)).tensors}
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as weights:
        return set(weights.keys())


def peek_gguf(path: str) -> tuple[str, bool]:
    """A GGUF file's family, from the tensor names in its header; only transformers are read from GGUF."""
    family = family_from_keys(file_keys(Path(path)))
    if family is None:
        raise ValueError("its tensors are not those of a FLUX.1 or SD 3 transformer (Easel reads those from GGUF)")
    return family, False


def peek_safetensors(path: str) -> tuple[str, bool]:
    from safetensors import safe_open

    with safe_open(path, framework="numpy") as checkpoint:  # the header only: no tensor is read, no torch
        keys = set(checkpoint.keys())
        conv_in = "model.diffusion_model.input_blocks.0.0.weight"
        inpainting = conv_in in keys and checkpoint.get_slice(conv_in).get_shape()[1] == 9
    return family_from_single_file_keys(keys), inpainting


def _cached_snapshot(entry: "ModelEntry") -> str | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return snapshot_download(entry.source, revision=entry.revision, local_files_only=True,
                                 allow_patterns=["model_index.json", "*/config.json"])
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None


def controlnet_family(path: Path) -> str | None:
    """The family a ControlNet is for, from its config or the shape of its cross-attention; None for a pickle,
    whose tensors are known only once it is loaded (and checked then)."""
    if path.is_dir():
        return controlnet_family_from_config(json.loads((path / "config.json").read_text()))
    if path.suffix.lower() != ".safetensors":
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as weights:  # the header only
        for key in weights.keys():
            if key.endswith("attn2.to_k.weight"):  # [inner width, text width]: diffusers' and LDM's names alike
                return FAMILY_BY_CONTEXT.get(weights.get_slice(key).get_shape()[1])
    return None


def model_label(entry: "ModelEntry") -> str:
    """What the model list shows: the family read from the weights, then the name ("SDXL · juggernaut").
    A hub model not downloaded yet shows its name alone: its family is known once it is."""
    from .catalog import FAMILIES

    known = peek(entry)
    name = entry.label or entry.name
    if known is None:
        return name
    family, inpainting = known
    return f"{FAMILIES[family].label}{' inpainting' if inpainting else ''} · {name}"


def describe(entry: "ModelEntry") -> dict:
    """What the Models tab shows of a library model before anything loads: its label with the family, where it
    comes from, and its size on this machine (None: a hub model not downloaded yet)."""
    location = locate(entry.source, entry.base_dir)
    where = {"file": "file", "folder": "folder", "hub": "Hugging Face hub", "missing": "missing"}[location.kind]
    size = None
    if location.kind == "file":
        size = Path(location.where).stat().st_size
    elif location.kind == "folder":
        size = _folder_bytes(Path(location.where))
    elif location.kind == "hub":
        snapshot = _cached_snapshot(entry)
        size = _folder_bytes(Path(snapshot)) if snapshot else None
    return {"name": entry.name, "label": model_label(entry), "where": where, "source": location.where,
            "bytes": size}


def _folder_bytes(folder: Path) -> int:
    # a hub snapshot holds links to the cache's blobs: their targets' sizes
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
