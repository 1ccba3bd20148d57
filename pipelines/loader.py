"""From a model reference (hub id, local diffusers folder, single .safetensors file) to loaded components.

The family (SD 1.x, SD 2.x, SDXL, SD 3, FLUX.1) is read from the weights' configs or tensor names, never from the
name. Downloads go through huggingface_hub's cache with its progress bars; every failure becomes a
`ModelLoadError` that names the model and says what to do.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch

from .catalog import ControlNetEntry, ModelEntry, gated_licence
from . import single_file_configs, transformer_loader
from .flow_families import CONTROLNET_CLASSES, FLOW_FAMILIES, family_from_keys
from .errors import ModelLoadError
from .model_sources import PICKLE_SUFFIXES, SINGLE_FILE_SUFFIXES, controlnet_family, controlnet_family_from_config, \
    family_from_single_file_keys, file_keys, locate, peek_folder, peek_safetensors

log = logging.getLogger(__name__)

# Only what a diffusers pipeline needs: skip the repos' duplicate single-file checkpoints and pickles.
_DOWNLOAD_PATTERNS = ["model_index.json", "*/*.json", "*/*.txt", "*/*.model", "*/*.safetensors"]  # .model: T5's
_SKIPPED_PATTERNS = ["*.ckpt", "*.bin", "*.pt", "*.pth", "*.msgpack", "*.onnx", "*.onnx_data", "*non_ema*", "*.h5"]

Progress = Callable[[str], None]  # receives a line of text such as "downloading unet: 40 %"


@dataclass
class LoadedBase:
    name: str
    pipeline: object  # a diffusers text-to-image (or inpainting) pipeline holding the components
    family: str
    inpainting: bool  # a 9-channel inpainting UNet
    model_hash: str | None  # AUTOMATIC1111-style short hash, for single files; hub revision for hub models
    identity: dict = field(default_factory=dict)  # {"revision": commit} of a hub model, {"sha256": ...} of a file
    embeddings: set = field(default_factory=set)  # textual-inversion tokens added to its tokenizer (embeddings.py)
    notes: list = field(default_factory=list)  # what loading could not do as asked (a quantization), said with each picture


# --- loading -------------------------------------------------------------------------------------


REFINER_CONFIG_REPO = "stabilityai/stable-diffusion-xl-refiner-1.0"  # an SDXL refiner single file's configs

def load_base(entry: ModelEntry, dtype: torch.dtype, allow_pickle: bool = False,
              progress: Progress | None = None, quantize: str | None = None) -> LoadedBase:
    """`quantize`: the format of FLUX / SD 3 transformers whose library entry names none (--quantize)."""
    location = locate(entry.source, entry.base_dir)
    if location.kind == "missing":
        raise ModelLoadError(entry.name, f"no such file or folder: {location.where}")
    try:
        if location.kind == "file":
            path = Path(location.where)
            if path.suffix.lower() in (".gguf", ".safetensors"):
                keys = file_keys(path)
                family = family_from_keys(keys)
                if family is not None:  # FLUX.1 or SD 3: whole, or the transformer alone
                    return _load_transformer_file(entry, path, family, keys, dtype, progress, quantize)
                if path.suffix.lower() == ".gguf":
                    raise ModelLoadError(entry.name, f"{path.name}: its tensors are not those of a FLUX.1 or SD 3 "
                                                     "transformer (Easel reads those from GGUF)")
            return _load_single_file(entry, path, dtype, allow_pickle)
        folder = location.where if location.kind == "folder" else download(entry.name, entry.source, entry.revision,
                                                                             entry.variant, progress)
        return _load_folder(entry, Path(folder), dtype, revision=Path(folder).name if location.kind == "hub" else None,
                            quantize=quantize)
    except ModelLoadError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure inside diffusers means the same to the user
        log.debug("loading %s failed", entry.name, exc_info=True)
        raise ModelLoadError(entry.name, f"could not be loaded ({type(error).__name__}: {error}). "
                                         "If a file is incomplete or corrupt, download it again.") from error


def _load_folder(entry: ModelEntry, folder: Path, dtype, revision: str | None, quantize: str | None = None) -> LoadedBase:
    from diffusers import DiffusionPipeline

    if not (folder / "model_index.json").is_file():
        raise ModelLoadError(entry.name, f"{folder} is not a diffusers model folder (no model_index.json)")
    family, inpainting = peek_folder(folder)
    identity = {"revision": revision} if revision else {}
    if family in FLOW_FAMILIES:
        pipeline, notes = transformer_loader.load_folder(entry, folder, dtype, quantize)
        return LoadedBase(entry.name, pipeline, family, False, model_hash=revision[:10] if revision else None,
                          identity=identity, notes=notes)
    variant = entry.variant if entry.variant and any(folder.glob(f"*/*.{entry.variant}.safetensors")) else None
    pipeline = DiffusionPipeline.from_pretrained(folder, torch_dtype=dtype, variant=variant, local_files_only=True)
    return LoadedBase(entry.name, pipeline, family, inpainting, model_hash=revision[:10] if revision else None,
                      identity=identity)


def _load_transformer_file(entry: ModelEntry, path: Path, family: str, keys: set[str], dtype, progress,
                           quantize: str | None) -> LoadedBase:
    def fetch(name: str, repo: str) -> str:  # the rest of the model, without the repo's own transformer weights
        return download(name, repo, None, None, progress, also_ignore=transformer_loader.OTHER_PARTS_IGNORED)

    pipeline, notes = transformer_loader.load_file(entry, path, family, keys, dtype, quantize, fetch)
    return LoadedBase(entry.name, pipeline, family, False, model_hash=file_hash(path)[:10],
                      identity={"sha256": file_hash(path)}, notes=notes)


def _load_single_file(entry: ModelEntry, path: Path, dtype, allow_pickle: bool) -> LoadedBase:
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline, StableDiffusionXLImg2ImgPipeline, \
        StableDiffusionXLInpaintPipeline, StableDiffusionXLPipeline

    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES and not allow_pickle:
        raise ModelLoadError(entry.name, f"{path.name} is a pickle checkpoint ({suffix}); loading one can run code "
                                         "hidden in it. Use a .safetensors file, or start with --allow-pickle if you trust it.")
    if suffix not in SINGLE_FILE_SUFFIXES:
        raise ModelLoadError(entry.name, f"{path.name}: unknown file type {suffix!r}; use a .safetensors checkpoint or a diffusers folder")
    if suffix == ".safetensors":
        try:
            family, inpainting = peek_safetensors(str(path))
        except ValueError as error:
            raise ModelLoadError(entry.name, f"{path.name}: {error}") from None
    else:  # a pickle the user opted in to: its tensor names are only known once it is unpickled
        from diffusers.loaders.single_file_utils import load_single_file_checkpoint

        checkpoint = load_single_file_checkpoint(str(path))
        family = family_from_single_file_keys(set(checkpoint))
        inpainting = checkpoint.get("model.diffusion_model.input_blocks.0.0.weight", torch.empty(0, 4)).shape[1] == 9
        del checkpoint
    cls = {
        ("sdxl", False): StableDiffusionXLPipeline, ("sdxl", True): StableDiffusionXLInpaintPipeline,
        ("sd1", False): StableDiffusionPipeline, ("sd1", True): StableDiffusionInpaintPipeline,
        ("sd2", False): StableDiffusionPipeline, ("sd2", True): StableDiffusionInpaintPipeline,
        ("sdxl_refiner", False): StableDiffusionXLImg2ImgPipeline,
    }[family, inpainting]
    kwargs = {"torch_dtype": dtype}
    if entry.config:
        config = locate(entry.config, entry.base_dir)
        kwargs["config"] = config.where
        kwargs["local_files_only"] = config.kind == "folder"
    elif family == "sdxl_refiner":  # its configs do not ship with Easel: the reference repo's (configs only)
        kwargs["config"] = REFINER_CONFIG_REPO
    else:  # the family's published configs ship with Easel: no hub, no network
        kwargs["config"] = str(single_file_configs.config_folder(family, inpainting))
        kwargs["local_files_only"] = True
    try:
        pipeline = cls.from_single_file(str(path), **kwargs)
    except Exception as error:
        if is_network_error(error):
            raise ModelLoadError(entry.name, "a single-file checkpoint needs its diffusers configs, which could not be "
                                             "downloaded; set `config:` in the model library to a local diffusers folder "
                                             "of the same family") from error
        raise
    return LoadedBase(entry.name, pipeline, family, inpainting, model_hash=file_hash(path)[:10],
                      identity={"sha256": file_hash(path)})


def load_controlnet(entry: ControlNetEntry, dtype: torch.dtype, progress: Progress | None = None,
                    allow_pickle: bool = False):
    """Load a ControlNet (plain or union) and return (model, family read from its config)."""
    from diffusers import ControlNetModel

    location = locate(entry.source, entry.base_dir)
    if location.kind == "missing":
        raise ModelLoadError(entry.name, f"no such file or folder: {location.where}")
    try:
        if location.kind == "file":
            suffix = Path(location.where).suffix.lower()
            if suffix in PICKLE_SUFFIXES and not allow_pickle:
                raise ModelLoadError(entry.name, f"{Path(location.where).name} is a pickle file ({suffix}); loading "
                                                 "one can run code hidden in it. Use a .safetensors file, or start "
                                                 "with --allow-pickle if you trust it.")
            if suffix not in SINGLE_FILE_SUFFIXES:
                raise ModelLoadError(entry.name, f"unknown file type {suffix!r}; use a .safetensors ControlNet")
            # the config of a ControlNet for the family's UNet ships with Easel: no hub, no network
            family = controlnet_family(Path(location.where)) or entry.family
            model = ControlNetModel.from_single_file(
                location.where, config=str(single_file_configs.controlnet_config_folder(family)),
                local_files_only=True, torch_dtype=dtype)
        else:
            folder = Path(location.where if location.kind == "folder"
                          else download(entry.name, entry.source, None, None, progress, controlnet=True))
            config = json.loads((folder / "config.json").read_text())
            import diffusers

            # the class its config names: a UNet ControlNet, SDXL's union one, FLUX's or SD 3's
            known = {"ControlNetUnionModel", *CONTROLNET_CLASSES}
            cls = getattr(diffusers, config["_class_name"]) if config.get("_class_name") in known else ControlNetModel
            model = cls.from_pretrained(folder, torch_dtype=dtype, local_files_only=True)
    except ModelLoadError:
        raise
    except Exception as error:  # noqa: BLE001
        log.debug("loading %s failed", entry.name, exc_info=True)
        raise ModelLoadError(entry.name, f"could not be loaded ({type(error).__name__}: {error}). "
                                         "If a file is incomplete or corrupt, download it again.") from error
    return model, controlnet_family_from_config({**model.config, "_class_name": type(model).__name__})


# --- downloads -----------------------------------------------------------------------------------


def download(name: str, repo_id: str, revision: str | None, variant: str | None, progress: Progress | None,
             controlnet: bool = False, also_ignore: list[str] = ()) -> str:
    """Fetch a hub repo into the standard Hugging Face cache (or find it there) and return its folder."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (GatedRepoError, LocalEntryNotFoundError, OfflineModeIsEnabled,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    ignore = list(_SKIPPED_PATTERNS)
    if variant is None:
        ignore += ["*.fp16.safetensors"]
    else:  # take the variant's weights only
        ignore += ["*/diffusion_pytorch_model.safetensors", "*/model.safetensors"]
    ignore += list(also_ignore)
    patterns = ["config.json", "*.safetensors"] if controlnet else _DOWNLOAD_PATTERNS
    if controlnet:
        ignore = [p for p in ignore if "fp16" not in p and "/" not in p]
    try:
        return snapshot_download(repo_id, revision=revision, allow_patterns=patterns, ignore_patterns=ignore,
                                 tqdm_class=hub_progress_bar(name, progress))
    except GatedRepoError:
        raise ModelLoadError(name, f"{repo_id} is gated: accept {gated_licence(repo_id)} at "
                                   f"https://huggingface.co/{repo_id} while logged in, then set HF_TOKEN to a token of "
                                   "that account (or run `hf auth login`), or point the library at a local copy") from None
    except RepositoryNotFoundError:
        raise ModelLoadError(name, f"there is no model {repo_id!r} on the Hugging Face hub; check the name, or set a "
                                   "local folder or .safetensors file in the model library") from None
    except RevisionNotFoundError:
        raise ModelLoadError(name, f"{repo_id} has no revision {revision!r}") from None
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        raise ModelLoadError(name, f"{repo_id} is not in the local cache and cannot be downloaded (offline). "
                                   "Connect to the internet once, or set a local folder or .safetensors file "
                                   "in the model library (--models)") from None
    except Exception as error:
        if is_network_error(error):
            raise ModelLoadError(name, f"{repo_id} could not be downloaded ({error}). Check the connection, or set a "
                                       "local folder or .safetensors file in the model library (--models)") from None
        raise


def is_network_error(error: BaseException) -> bool:
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (LocalEntryNotFoundError, OfflineModeIsEnabled, ConnectionError, TimeoutError)):
            return True
        if type(error).__module__.startswith(("httpx", "httpcore", "requests", "urllib3")):
            return True
        error = error.__cause__ or error.__context__
    return False


def hub_progress_bar(name: str, progress: Progress | None):
    """huggingface_hub's own tqdm bars, also reported as text lines to the caller (the UI's progress)."""
    from huggingface_hub.utils import tqdm as hub_tqdm

    if progress is None:
        return None

    class ReportingBar(hub_tqdm):
        def update(self, n=1):
            shown = super().update(n)
            if self.total:
                progress(f"downloading {name}: {100 * self.n / self.total:.0f} % of {self.total / 2**20:.0f} MiB")
            return shown

    return ReportingBar


@lru_cache(maxsize=64)
def _hash_file(path: str, size: int, mtime: float) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_hash(path: Path) -> str:
    """The file's SHA-256 (AUTOMATIC1111's model hash is its first 10 hex digits), computed once per file version."""
    stat = path.stat()
    return _hash_file(str(path), stat.st_size, stat.st_mtime)
