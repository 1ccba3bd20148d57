"""The safety checker for public demos: every picture passes it, and a flagged one is blurred before it leaves.

    checker = load_safety_checker()                 # CompVis/stable-diffusion-safety-checker, or a local folder
    pictures, flags = checker.screen(pictures)      # flagged pictures come back heavily blurred

The model is Stable Diffusion's own `StableDiffusionSafetyChecker` (a CLIP vision tower compared with fixed
concept embeddings) and its `CLIPImageProcessor`; the decision is the model's `has_nsfw_concepts`. It reads
decoded pictures, so it serves every family alike (SD 1.x, SD 2.x, SDXL). Where diffusers' pipelines black a
flagged picture out, Easel blurs it: the user sees that something was made and why it is hidden.

Two on-disk layouts are read, the two that hold the checker on the hub: a pipeline repo's
`safety_checker/` (config and weights) with `feature_extractor/preprocessor_config.json`, and the checker's
own repo with all three files at its top. Weights are read from safetensors; pickles only when allowed.

`checker_enabled` and `NOTICE` need neither torch nor the model: front ends and settings may use them freely.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PIL import Image, ImageFilter

from .errors import ModelLoadError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

SAFETY_MODES = ("off", "on", "auto")
# The checker SD 1.5 ships with (its safety_checker/ and feature_extractor/, the model CompVis published): only
# those files are fetched, and a Space's preload_from_hub (README.md) already holds them.
DEFAULT_REPO = "stable-diffusion-v1-5/stable-diffusion-v1-5"
NAME = "safety checker"  # how errors and status lines name it
RESIDENCY_OWNER, RESIDENCY_ROLE = "safety-checker", "safety_checker"  # its one component in the residency ledger

NOTICE = ("This picture was blurred by the safety checker: it may show content that is not allowed on this "
          "public demo. Try another prompt or seed.")

BLUR_FRACTION = 1 / 8  # blur radius as a share of the picture's longer side: nothing recognizable survives

# Only the checker's files: a pipeline repo also holds a UNet, a VAE and text encoders that are not wanted here.
# (Patterns match whole paths: "model.safetensors" is the top-level file only.)
_SAFE_FILES = ["config.json", "preprocessor_config.json", "model.safetensors",
               "safety_checker/config.json", "safety_checker/model.safetensors",
               "feature_extractor/preprocessor_config.json"]
_PICKLE_FILES = ["pytorch_model.bin", "safety_checker/pytorch_model.bin"]
_PREPROCESSOR_CONFIG = "preprocessor_config.json"

Progress = Callable[[str], None]


# --- when it runs ---------------------------------------------------------------------------------


def checker_enabled(mode: str, exposed: bool) -> bool:
    """Whether the checker runs: `--safety on` always, `off` never, `auto` when the studio is exposed beyond
    this machine (a share link, a host beyond loopback, a Space; the caller says which)."""
    if mode not in SAFETY_MODES:
        raise ValueError(f"--safety: unknown mode {mode!r}; use one of {', '.join(SAFETY_MODES)}")
    return mode == "on" or (mode == "auto" and exposed)


# --- blurring -------------------------------------------------------------------------------------


def blur_radius(image: Image.Image) -> float:
    # Proportional to the size: a fixed radius that hides a 512 px picture would leave a 2048 px one legible.
    return max(2.0, max(image.size) * BLUR_FRACTION)


def blurred(image: Image.Image) -> Image.Image:
    """A heavily blurred copy of `image`, in its mode where the blur supports it, with its metadata kept."""
    source = image if image.mode in ("RGB", "RGBA", "L", "LA") else image.convert("RGB")
    copy = source.filter(ImageFilter.GaussianBlur(blur_radius(source)))
    copy.info = dict(image.info)
    return copy


def blur_flagged(images: list[Image.Image], flags: list[bool]) -> list[Image.Image]:
    """The pictures with every flagged one replaced by a blurred copy; the others are the same objects."""
    if len(images) != len(flags):
        # A short list of flags would let a picture through unchecked: refuse rather than guess.
        raise ValueError(f"{len(images)} pictures but {len(flags)} safety decisions")
    return [blurred(image) if flag else image for image, flag in zip(images, flags)]


# --- the model ------------------------------------------------------------------------------------


class _BlackImageNotice(logging.Filter):
    """diffusers logs "a black image will be returned" when it flags a picture; Easel blurs it instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "black image" not in record.getMessage()


@dataclass
class SafetyChecker:
    model: "torch.nn.Module"  # a StableDiffusionSafetyChecker
    feature_extractor: object  # its CLIPImageProcessor
    source: str = DEFAULT_REPO

    def modules(self) -> list["torch.nn.Module"]:
        """Its torch modules, for the residency: the model is one component (the feature extractor has no weights)."""
        return [self.model]

    def check(self, images: list[Image.Image]) -> list[bool]:
        """The model's own decision for each picture: True where it is flagged."""
        if not images:
            return []
        import torch

        parameter = next(self.model.parameters())
        rgb = [image if image.mode == "RGB" else image.convert("RGB") for image in images]
        pixels = self.feature_extractor(rgb, return_tensors="pt").pixel_values
        clip_input = pixels.to(parameter.device, parameter.dtype)  # wherever the residency has put it
        # The model blacks out its `images` argument in place: hand it a placeholder, the pictures stay ours.
        placeholder = torch.zeros(len(images), 1)
        with torch.inference_mode():
            _, has_nsfw_concepts = self.model(clip_input=clip_input, images=placeholder)
        flags = [bool(flag) for flag in has_nsfw_concepts]
        if any(flags):
            log.warning("the safety checker flagged %d of %d pictures; they are blurred", sum(flags), len(flags))
        return flags

    def screen(self, images: list[Image.Image]) -> tuple[list[Image.Image], list[bool]]:
        """Check and blur in one step, so that no caller can return a flagged picture unblurred."""
        flags = self.check(images)
        return blur_flagged(images, flags), flags


# --- loading --------------------------------------------------------------------------------------


def load_safety_checker(source: str = DEFAULT_REPO, dtype: "torch.dtype | None" = None, allow_pickle: bool = False,
                        base_dir: Path | None = None, local_files_only: bool = False,
                        progress: Progress | None = None) -> SafetyChecker:
    """Load the checker from a hub repo (fetched into the Hugging Face cache, or found there) or a local folder."""
    from .model_sources import locate

    location = locate(source, base_dir)
    if location.kind == "missing":
        raise ModelLoadError(NAME, f"no such folder: {location.where}. Give a hub repo or a folder holding "
                                   "safety_checker/ and feature_extractor/, or turn the checker off with --safety off")
    if location.kind == "file":
        raise ModelLoadError(NAME, f"{location.where} is a file; the safety checker is read from a folder "
                                   "(safety_checker/ and feature_extractor/) or a hub repo")
    folder = Path(location.where) if location.kind == "folder" else \
        Path(_download(source, allow_pickle, local_files_only, progress))
    model_dir, extractor_dir = checker_folders(folder)
    return _load_from(source, model_dir, extractor_dir, dtype, allow_pickle)


def checker_folders(folder: Path) -> tuple[Path, Path]:
    """(the model's folder, the feature extractor's folder) in either layout, as StableDiffusionPipeline reads
    its `safety_checker` and `feature_extractor` subfolders, or as the checker's own repo has them at its top."""
    if (folder / "safety_checker" / "config.json").is_file():
        return folder / "safety_checker", folder / "feature_extractor"
    if (folder / "config.json").is_file():
        # the checker's own repo; or a pipeline's safety_checker/ folder itself, its extractor beside it
        beside = folder.parent / "feature_extractor"
        if not (folder / _PREPROCESSOR_CONFIG).is_file() and (beside / _PREPROCESSOR_CONFIG).is_file():
            return folder, beside
        return folder, folder
    raise ModelLoadError(NAME, f"{folder} holds no safety checker (no safety_checker/config.json, no config.json)")


def _load_from(source: str, model_dir: Path, extractor_dir: Path, dtype, allow_pickle: bool) -> SafetyChecker:
    from diffusers.pipelines.stable_diffusion import safety_checker as diffusers_checker
    from transformers import CLIPImageProcessor

    import torch

    use_safetensors = _weights_format(model_dir, allow_pickle)
    if not (extractor_dir / _PREPROCESSOR_CONFIG).is_file():
        raise ModelLoadError(NAME, f"{extractor_dir} has no {_PREPROCESSOR_CONFIG} (the checker's feature extractor)")
    try:
        model = diffusers_checker.StableDiffusionSafetyChecker.from_pretrained(
            model_dir, dtype=dtype or torch.float32, use_safetensors=use_safetensors, local_files_only=True)
        extractor = CLIPImageProcessor.from_pretrained(extractor_dir, local_files_only=True)
    except Exception as error:  # noqa: BLE001 - any failure inside transformers means the same to the user
        log.debug("loading the safety checker from %s failed", model_dir, exc_info=True)
        raise ModelLoadError(NAME, f"{source} could not be loaded ({type(error).__name__}: {error}). If a file is "
                                   "incomplete or corrupt, download it again; --safety off turns the checker "
                                   "off") from error
    model.eval()
    _quiet_black_image_notice(diffusers_checker.__name__)
    return SafetyChecker(model, extractor, source)


def _weights_format(model_dir: Path, allow_pickle: bool) -> bool:
    """True to read safetensors; False to read a pickle, only when allowed: loading one can run code hidden in it."""
    if any(model_dir.glob("*.safetensors")):
        return True
    if any(model_dir.glob("*.bin")):
        if allow_pickle:
            return False
        raise ModelLoadError(NAME, f"{model_dir} has its weights only as a pickle (.bin); loading one can run code "
                                   "hidden in it. Use a copy with model.safetensors, or start with --allow-pickle "
                                   "if you trust it")
    # A hub repo whose weights are only a pickle arrives here too: its .bin was not fetched without the allowance.
    raise ModelLoadError(NAME, f"{model_dir} has no weights (model.safetensors). If its repo ships only "
                               "pytorch_model.bin, start with --allow-pickle if you trust it; --safety off turns "
                               "the checker off")


def _quiet_black_image_notice(logger_name: str) -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, _BlackImageNotice) for f in logger.filters):
        logger.addFilter(_BlackImageNotice())


def _download(repo_id: str, allow_pickle: bool, local_files_only: bool, progress: Progress | None) -> str:
    """Fetch the checker's files of a hub repo into the standard cache (or find them there); return its folder."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (GatedRepoError, LocalEntryNotFoundError, OfflineModeIsEnabled,
                                        RepositoryNotFoundError)

    from .loader import is_network_error, hub_progress_bar  # the same bars and network test as the models'

    patterns = _SAFE_FILES + (_PICKLE_FILES if allow_pickle else [])
    try:
        return snapshot_download(repo_id, allow_patterns=patterns, local_files_only=local_files_only,
                                 tqdm_class=hub_progress_bar(NAME, progress))
    except GatedRepoError:
        raise ModelLoadError(NAME, f"{repo_id} is gated: accept its licence on huggingface.co and log in with `hf "
                                   "auth login`, or give a local folder; --safety off turns the checker off") from None
    except RepositoryNotFoundError:
        raise ModelLoadError(NAME, f"there is no repo {repo_id!r} on the Hugging Face hub; check the name, or give "
                                   "a local folder; --safety off turns the checker off") from None
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        raise ModelLoadError(NAME, _offline_message(repo_id)) from None
    except Exception as error:
        if is_network_error(error):
            raise ModelLoadError(NAME, _offline_message(repo_id)) from None
        raise


def _offline_message(repo_id: str) -> str:
    return (f"its weights ({repo_id}) are not in the local cache and cannot be downloaded (offline). Connect to "
            "the internet once, or give a local folder holding them; --safety off turns the checker off")
