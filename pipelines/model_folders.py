"""The model files of AUTOMATIC1111 (A1111) and ComfyUI `models` folders, found and named as A1111 names them.

Each folder given (--models-dir, EASEL_MODELS_DIR) is a `models` folder of either program. Its subfolders are
recognised one by one by their names, so the two layouts may even be mixed:

    A1111                               ComfyUI            kind
    Stable-diffusion/                   checkpoints/       checkpoint
                                        diffusion_models/, unet/  checkpoint (FLUX / SD 3 transformers, .gguf too)
    Lora/, LyCORIS/                     loras/             lora
    VAE/                                vae/               vae
    ControlNet/                         controlnet/        controlnet
    ESRGAN/, RealESRGAN/                upscale_models/    upscaler
    GFPGAN/, Codeformer/                facerestore_models/  face_restorer
    ControlNet/ip-adapter*              ipadapter/         ip_adapter
                                        clip_vision/       image_encoder
    embeddings/ beside models/          embeddings/        embedding

Names are A1111's, so that prompts, infotexts and API calls written for A1111 find the same files:
- a checkpoint: its path under the checkpoint folder, extension kept, with "/" ("sdxl/juggernaut.safetensors";
  modules/sd_models.py, CheckpointInfo.name);
- a LoRA, an embedding, an upscaler, a face restorer or a ControlNet: the file's stem ("add_detail"; extensions-builtin/Lora/
  networks.py list_available_networks, textual_inversion.py load_from_file, modelloader.friendly_name);
- a VAE: the file's name, extension kept ("vae-ft-mse-840000-ema-pruned.safetensors"; sd_vae.py refresh_vae_list).
A model in diffusers' layout (a folder) is named by its path under the kind's folder.

Subfolders are read in A1111's natural order (modules/util.py walk_files), hidden files and folders are
skipped, and nothing about the user's folders raises: a missing folder, an unreadable file or a second file of
the same name is left out with a warning in `Found.warnings`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

# A `models` subfolder -> the kind of model it holds: A1111's names, then ComfyUI's. Scanned in this order.
KIND_OF_FOLDER = {
    "Stable-diffusion": "checkpoint", "checkpoints": "checkpoint",
    # ComfyUI keeps transformers alone (FLUX, SD 3 fine-tunes and GGUF files) apart from whole checkpoints
    "diffusion_models": "checkpoint", "unet": "checkpoint",
    "Lora": "lora", "LyCORIS": "lora", "loras": "lora",
    "VAE": "vae", "vae": "vae",
    "ControlNet": "controlnet", "controlnet": "controlnet",
    "ESRGAN": "upscaler", "RealESRGAN": "upscaler", "upscale_models": "upscaler",
    # A1111 keeps GFPGAN and CodeFormer in folders of their own; ComfyUI's face restore nodes in one folder
    "GFPGAN": "face_restorer", "Codeformer": "face_restorer", "facerestore_models": "face_restorer",
    "embeddings": "embedding",
    "ipadapter": "ip_adapter", "clip_vision": "image_encoder",  # ComfyUI's; A1111's ControlNet extension keeps
}                                                               # its IP-Adapters among the ControlNets
A1111_EMBEDDINGS = "embeddings"  # A1111 keeps it beside `models/`, not in it

# The files each kind is made of, as A1111 lists them.
EXTENSIONS = {
    "checkpoint": {".safetensors", ".ckpt", ".gguf"},  # sd_models.list_models; Forge adds .gguf
    "lora": {".safetensors", ".pt", ".ckpt"},  # networks.list_available_networks
    "vae": {".safetensors", ".pt", ".ckpt"},  # sd_vae.refresh_vae_list
    "controlnet": {".safetensors", ".pth", ".bin", ".pt", ".ckpt"},  # the sd-webui-controlnet extension's list
    "upscaler": {".pth", ".pt", ".safetensors"},  # ESRGAN's; spandrel, which A1111 loads them with, reads .safetensors
    "face_restorer": {".pth", ".safetensors"},  # GFPGANv1.4.pth, codeformer-v0.1.0.pth
    # A1111 also reads embeddings hidden in PNG, WebP, JXL and AVIF pictures; Easel cannot load those, so pictures
    # are not listed as embeddings (a picture beside an embedding is its preview).
    "embedding": {".pt", ".bin", ".safetensors"},  # textual_inversion.py load_from_file
    "ip_adapter": {".safetensors", ".bin"},  # h94/IP-Adapter's files
    "image_encoder": {".safetensors"},  # a CLIP vision model's weights, as ComfyUI keeps them
}
# A1111 lists these files of the checkpoint folder as VAEs, not checkpoints (sd_vae.refresh_vae_list).
VAE_SUFFIXES = (".vae.safetensors", ".vae.pt", ".vae.ckpt")
# A folder of this kind holding this file is one model in diffusers' layout, not a folder of models.
DIFFUSERS_MARKERS = {"checkpoint": "model_index.json", "controlnet": "config.json", "image_encoder": "config.json"}
# Beside `name.safetensors`: `name.png`, then `name.preview.png`, for each extension in turn (ui_extra_networks.py
# find_preview and default_allowed_preview_extensions), and `name.txt`, then `name.description.txt`
# (find_description).
PREVIEW_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "gif")
DESCRIPTION_SUFFIXES = (".txt", ".description.txt")
DESCRIPTION_LIMIT = 20_000  # characters: a card shows a few lines, and a rescan reads every description

GFPGAN, CODEFORMER = "GFPGAN", "CodeFormer"
FACE_RESTORERS = (GFPGAN, CODEFORMER)  # A1111's face restorers (modules/face_restoration.py), by the names it shows

FIELD_OF_KIND = {"checkpoint": "checkpoints", "lora": "loras", "vae": "vaes", "controlnet": "controlnets",
                 "upscaler": "upscalers", "face_restorer": "face_restorers", "embedding": "embeddings",
                 "ip_adapter": "ip_adapters", "image_encoder": "image_encoders"}


@dataclass(frozen=True)
class FoundFile:
    name: str  # as A1111 shows it (see the module's docstring)
    path: Path
    kind: str  # "checkpoint", "lora", "vae", "controlnet", "upscaler", "face_restorer", "embedding", "ip_adapter"...
    size: int  # bytes; for a diffusers folder, those of all its files
    preview: Path | None = None  # the picture beside it that A1111's cards show
    description: str | None = None  # the text of name.txt or name.description.txt beside it


@dataclass
class Found:
    checkpoints: dict[str, FoundFile] = field(default_factory=dict)
    loras: dict[str, FoundFile] = field(default_factory=dict)
    vaes: dict[str, FoundFile] = field(default_factory=dict)
    controlnets: dict[str, FoundFile] = field(default_factory=dict)
    upscalers: dict[str, FoundFile] = field(default_factory=dict)
    face_restorers: dict[str, FoundFile] = field(default_factory=dict)
    embeddings: dict[str, FoundFile] = field(default_factory=dict)
    ip_adapters: dict[str, FoundFile] = field(default_factory=dict)
    image_encoders: dict[str, FoundFile] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, found: FoundFile) -> None:
        """Keep the first file of each name: a second one could not be told apart in a prompt or an infotext."""
        known = getattr(self, FIELD_OF_KIND[found.kind])
        first = known.setdefault(found.name, found)
        if first is not found:
            self.warnings.append(f"{found.kind} {found.name!r}: {found.path} left out, {first.path} has the "
                                 f"same name; rename one of them to use both")


def restorer_files(found: dict[str, FoundFile]) -> dict[str, FoundFile]:
    """restorer name -> the file to use, from the face restorer files found: by the file's name (GFPGANv1.4,
    codeformer-v0.1.0), else by its folder (A1111's GFPGAN/ or Codeformer/); of several, the newest name."""
    chosen = {}
    for file in sorted(found.values(), key=lambda f: f.name.lower(), reverse=True):
        words = f"{file.name} {file.path.parent.name}".lower()
        for name in FACE_RESTORERS:
            if name.lower() in words:
                chosen.setdefault(name, file)
                break
    return chosen


def paths_from_env(value: str) -> list[Path]:
    """The folders of a PATH-like variable (EASEL_MODELS_DIR), split on os.pathsep; empty parts are ignored."""
    return [Path(part) for part in value.split(os.pathsep) if part.strip()]


def scan(dirs: list[Path]) -> Found:
    """Every model file of these `models` folders, by kind and A1111 name, with what could not be used."""
    found = Found()
    visited: set[tuple[int, int]] = set()  # a folder named twice, or reached again by a link, is read once
    for models_dir in map(Path, dirs):
        if not models_dir.is_dir():
            found.warnings.append(f"model folder {models_dir} " +
                                  ("is not a folder" if models_dir.exists() else "does not exist"))
            continue
        folders = _kind_folders(models_dir)
        if not folders:
            found.warnings.append(f"model folder {models_dir} has none of the subfolders A1111 or ComfyUI use "
                                  f"({', '.join(KIND_OF_FOLDER)})")
        for kind, folder in folders:
            _scan_folder(folder, kind, found, visited)
    return found


def _kind_folders(models_dir: Path) -> list[tuple[str, Path]]:
    candidates = [(kind, models_dir / name) for name, kind in KIND_OF_FOLDER.items()]
    candidates.append(("embedding", models_dir.parent / A1111_EMBEDDINGS))
    return [(kind, folder) for kind, folder in candidates if folder.is_dir()]


def _scan_folder(root: Path, kind: str, found: Found, visited: set[tuple[int, int]]) -> None:
    def unreadable(error: OSError) -> None:
        found.warnings.append(f"folder {error.filename} left out: it cannot be read ({error.strerror or error})")

    marker = DIFFUSERS_MARKERS.get(kind)
    for folder, subfolders, files in os.walk(root, followlinks=True, onerror=unreadable):
        folder = Path(folder)
        if not _first_visit(folder, visited):
            subfolders.clear()
            continue
        if marker and folder != root and (folder / marker).is_file():
            subfolders.clear()  # its parts (unet/, vae/...) are not models of their own
            _add(found, kind, root, folder, _folder_size(folder))
            continue
        subfolders[:] = sorted((name for name in subfolders if not name.startswith(".")), key=_natural_order)
        for name in sorted(files, key=_natural_order):
            file_kind = _kind_of_file(kind, name)
            if file_kind and not name.startswith("."):
                _add_file(found, file_kind, root, folder / name)


def _first_visit(folder: Path, visited: set[tuple[int, int]]) -> bool:
    try:
        status = folder.stat()
    except OSError:
        return False  # a link gone stale while we walk: nothing to read there
    identity = (status.st_dev, status.st_ino)
    if identity in visited:
        return False
    visited.add(identity)
    return True


def _kind_of_file(kind: str, file_name: str) -> str | None:
    lowered = file_name.lower()
    if kind == "checkpoint" and lowered.endswith(VAE_SUFFIXES):
        return "vae"
    if kind == "controlnet" and lowered.startswith(("ip-adapter", "ip_adapter")):  # A1111's ControlNet extension's
        kind = "ip_adapter"
    return kind if os.path.splitext(lowered)[1] in EXTENSIONS[kind] else None


def _add_file(found: Found, kind: str, root: Path, path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as error:  # a dangling link, a file removed meanwhile
        found.warnings.append(f"{kind} file {path} left out: it cannot be read ({error.strerror or error})")
        return
    if not os.access(path, os.R_OK):
        found.warnings.append(f"{kind} file {path} left out: it cannot be read (permission denied)")
    elif size == 0:  # an interrupted download, most often; A1111 skips empty embeddings the same way
        found.warnings.append(f"{kind} file {path} left out: it is empty")
    else:
        _add(found, kind, root, path, size)


def _add(found: Found, kind: str, root: Path, path: Path, size: int) -> None:
    beside = path if path.is_dir() else path.with_name(path.stem)  # A1111's os.path.splitext(filename)[0]
    found.add(FoundFile(name=_name(kind, root, path), path=path, kind=kind, size=size, preview=_preview(beside),
                        description=_description(beside)))


def _name(kind: str, root: Path, path: Path) -> str:
    if kind == "checkpoint" or path.is_dir():
        return path.relative_to(root).as_posix()
    if kind == "vae":
        return path.name
    return path.stem


def _preview(beside: Path) -> Path | None:
    for extension in PREVIEW_EXTENSIONS:
        for candidate in (Path(f"{beside}.{extension}"), Path(f"{beside}.preview.{extension}")):
            if candidate.is_file():
                return candidate
    return None


def _description(beside: Path) -> str | None:
    for suffix in DESCRIPTION_SUFFIXES:
        try:
            with open(f"{beside}{suffix}", encoding="utf-8", errors="replace") as file:
                return file.read(DESCRIPTION_LIMIT)
        except OSError:
            continue
    return None


def _folder_size(folder: Path) -> int:
    total = 0
    for parent, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(parent, name)).st_size
            except OSError:
                continue  # the size is for display: a part that cannot be read does not stop the scan
    return total


def _natural_order(name: str) -> list:
    """A1111's natural_sort_key: "model2" before "model10", case ignored."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


# Hashes, as A1111 computes them (modules/hashes.py), kept in memory by (path, size, mtime): a rescan or a second
# picture with the same LoRA does not read a file of gigabytes again, and a file changed in place is read anew.

HASH_CHUNK = 1 << 20


def full_hash(path: Path | str) -> str:
    """sha256 of the whole file, in hex (hashes.calculate_sha256): A1111's hash of checkpoints, VAEs,
    embeddings, and of LoRAs that are not .safetensors."""
    return _cached_hash(*_file_identity(path), after_header=False)


def short_hash(path: Path | str) -> str:
    """The first 10 hex digits of `full_hash`: A1111's checkpoint `shorthash` (sd_models.CheckpointInfo),
    shown as "name [shorthash]" and written as "Model hash"."""
    return full_hash(path)[:10]


def addnet_hash(path: Path | str) -> str:
    """A1111's LoRA hash (hashes.addnet_hash_safetensors, from kohya's sd-scripts): sha256 of what follows the
    safetensors header, so that editing the header's metadata keeps the hash. A LoRA of another format is
    hashed whole, as A1111 does (network.NetworkOnDisk: use_addnet_hash=is_safetensors)."""
    if Path(path).suffix.lower() != ".safetensors":
        return full_hash(path)
    return _cached_hash(*_file_identity(path), after_header=True)


def _file_identity(path: Path | str) -> tuple[str, int, int]:
    resolved = Path(path).resolve()
    status = resolved.stat()
    return str(resolved), status.st_size, status.st_mtime_ns


@functools.lru_cache(maxsize=4096)
def _cached_hash(path: str, size: int, mtime_ns: int, after_header: bool) -> str:
    # size and mtime_ns are not read here: they are in the cache's key, so a changed file misses it
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        if after_header:  # 8 bytes of header length, little-endian, then the header: skip both, as A1111 does
            file.seek(8 + int.from_bytes(file.read(8), "little"))
        for chunk in iter(lambda: file.read(HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# What A1111 writes in a picture's infotext for each kind: the field, the hash, and how many hex digits of it.
# "Lora hashes" and "TI hashes" list "name: hash" pairs joined by ", " (extra_networks_lora.py, NetworkOnDisk
# and Embedding .shorthash); "Model hash" and "VAE hash" are one hash each (CheckpointInfo.shorthash,
# sd_vae.get_loaded_vae_hash). A1111 takes a LoRA's `sshs_model_hash` metadata instead when the file has one;
# kohya's trainer writes it as this same hash.
INFOTEXT_HASHES = {
    "checkpoint": ("Model hash", full_hash, 10),
    "vae": ("VAE hash", full_hash, 10),
    "lora": ("Lora hashes", addnet_hash, 12),
    "embedding": ("TI hashes", full_hash, 12),
}


def infotext_hash(found: FoundFile) -> str:
    """The hash A1111 writes for this file in an infotext, under the field INFOTEXT_HASHES[found.kind][0]."""
    _, hash_of, digits = INFOTEXT_HASHES[found.kind]
    return hash_of(found.path)[:digits]
