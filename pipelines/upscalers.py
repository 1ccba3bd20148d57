"""Pixel upscalers: A1111's built-in resamplers, and any model architecture spandrel knows, run tile by tile.

spandrel (the library A1111, ComfyUI, InvokeAI and SD.Next load upscalers with) reads ESRGAN, Real-ESRGAN and
its compact variant, SwinIR, HAT, DAT and more from their state dicts and says each one's scale. `.safetensors`
files are read as they are; `.pth` and `.ckpt` through torch's weights-only loader, which runs no code (a file
that needs more is refused unless --allow-pickle); TorchScript `.pt` files only with --allow-pickle.
A large picture is upscaled in overlapping tiles, so the memory a run needs does not grow with the picture:
each tile's output is kept without the margin its neighbour covers, where a convolution saw only padding.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .catalog import BUILTIN_UPSCALERS as BUILTIN
from .model_sources import PICKLE_SUFFIXES

NONE, LANCZOS, NEAREST = BUILTIN
TILE = 192  # pixels of input per tile: a 4x model then makes 768-pixel tiles, a few hundred MB of activations
OVERLAP = 16  # pixels each tile shares with its neighbours, dropped from the inner edges of the output
RESIDENCY_ROLE = "upscaler"


class UpscalerError(Exception):
    """An upscaler file that cannot be used; the message names it and says why."""


def read(name: str, path: Path, allow_pickle: bool = False, purposes: tuple[str, ...] = ("SR", "Restoration"),
         kind: str = "upscaler"):
    """The spandrel model of an upscaler file (on the CPU), or UpscalerError. Face restorers are read the same
    way, with spandrel's purpose "FaceSR" and their own `kind` in the messages."""
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError, canonicalize_state_dict

    suffix = path.suffix.lower()
    try:
        if suffix == ".safetensors":
            state = ModelLoader().load_state_dict_from_file(path)
        elif suffix in (".pth", ".ckpt", ".bin"):
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as error:  # noqa: BLE001 - pickled objects beyond tensors: code could run
                if not allow_pickle:
                    raise UpscalerError(f"{kind} {name}: {path.name} holds more than tensors, and loading it could "
                                        "run code; use a .safetensors file, or start with --allow-pickle if you "
                                        "trust it") from error
                state = ModelLoader().load_state_dict_from_file(path)
            state = canonicalize_state_dict(state)
        elif suffix in PICKLE_SUFFIXES and allow_pickle:
            state = ModelLoader().load_state_dict_from_file(path)
        else:
            raise UpscalerError(f"{kind} {name}: {path.name} is a {suffix} file; use .safetensors or .pth "
                                "(TorchScript .pt only with --allow-pickle)")
        model = ModelLoader().load_from_state_dict(state)
    except UpscalerError:
        raise
    except UnsupportedModelError:
        raise UpscalerError(f"{kind} {name}: {path.name} is not an architecture spandrel knows") from None
    except Exception as error:  # noqa: BLE001 - a truncated or foreign file
        raise UpscalerError(f"{kind} {name}: {path.name} cannot be read ({type(error).__name__}: {error})") from None
    if not isinstance(model, ImageModelDescriptor) or model.purpose not in purposes:
        raise UpscalerError(f"{kind} {name}: {path.name} is a {model.architecture.name} model for "
                            f"{model.purpose}, not a {kind}")
    return model.eval()


def upscale(picture: Image.Image, scale: float, model=None, method: str = LANCZOS, tile: int = TILE,
            overlap: int = OVERLAP) -> Image.Image:
    """`picture` made `scale` times larger: by the model (tiled), then resampled to the exact size if the
    model's own scale differs, as A1111 does; without a model, by Lanczos or Nearest."""
    target = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    if model is None:
        if method == NONE or target == picture.size:
            return picture.copy()
        return picture.resize(target, Image.NEAREST if method == NEAREST else Image.LANCZOS)
    result = picture.convert("RGB")
    # A1111 runs a model again while the picture is still smaller than asked (a 4x model twice for 8x).
    for _ in range(max(1, math.ceil(math.log(max(scale, 1.0001), model.scale)))):
        if result.width >= target[0] and result.height >= target[1]:
            break
        result = _run_tiled(result, model, tile, overlap)
    return result if result.size == target else result.resize(target, Image.LANCZOS)


def _run_tiled(picture: Image.Image, model, tile: int, overlap: int) -> Image.Image:
    parameter = next(model.model.parameters())
    pixels = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255.0).permute(2, 0, 1)
    height, width = pixels.shape[1:]
    s = model.scale
    out = np.zeros((height * s, width * s, 3), dtype=np.uint8)
    step = max(1, tile - 2 * overlap)
    with torch.inference_mode():
        for top in range(0, height, step):
            for left in range(0, width, step):
                # the tile with its margins, cut to the picture; only the part beyond the margins is kept
                y0, x0 = max(0, top - overlap), max(0, left - overlap)
                y1, x1 = min(height, top + step + overlap), min(width, left + step + overlap)
                part = pixels[:, y0:y1, x0:x1].unsqueeze(0).to(parameter.device, parameter.dtype)
                made = model(part).clamp(0, 1)[0].float().permute(1, 2, 0).cpu().numpy()
                keep_y, keep_x = (top - y0) * s, (left - x0) * s
                rows = (min(top + step, height) - top) * s
                columns = (min(left + step, width) - left) * s
                out[top * s:top * s + rows, left * s:left * s + columns] = np.round(
                    made[keep_y:keep_y + rows, keep_x:keep_x + columns] * 255).astype(np.uint8)
    return Image.fromarray(out)


def write_tiny_compact_upscaler(path: Path, scale: int = 4) -> Path:
    """A tiny random Real-ESRGAN compact (SRVGGNetCompact, 8 features, 2 convolutions) as Real-ESRGAN ships its
    files: a .pth holding {"params": state dict}, read through the weights-only loader."""
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(1)
    model = Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params": model.state_dict()}, path)
    return path


def write_tiny_upscaler(path: Path, scale: int = 4) -> Path:
    """A tiny random-weight ESRGAN (8 filters, one block) in the layout real ESRGAN files have: for tests and
    the demo, loaded through the same path as real upscalers."""
    from safetensors.torch import save_file
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(0)
    model = ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path
