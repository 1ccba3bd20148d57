"""Face restoration, as A1111's GFPGAN and CodeFormer: faces found, each redrawn at 512 pixels, pasted back softly.

The restorer files are the ones A1111 keeps (models/GFPGAN/GFPGANv1.4.pth, models/Codeformer/codeformer-v0.1.0.pth;
ComfyUI's models/facerestore_models/), read by spandrel like the upscalers (upscalers.read), through the same
weights-only loader. spandrel itself knows GFPGAN; CodeFormer's architecture is in spandrel_extra_arches, kept
apart because its licence forbids commercial use, so it is used when that package is installed and named when not.

Faces are found with dlib's HOG detector (face_detection.py). Each face is cut out as a square twice its box
(hair and chin in, as the restorers were trained on), redrawn, and pasted back under a feathered mask, so nothing
outside the faces changes and no seam shows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from . import upscalers
from .face_detection import find_faces  # noqa: F401 - the restorer's, and its tests'
from .model_folders import CODEFORMER, GFPGAN

FACE_SIDE = 512  # what GFPGAN and CodeFormer take and give
CROP_FACTOR = 2.0  # the square cut around a face, in face boxes
FEATHER = 1 / 12  # the soft edge of a pasted face, as a share of its side
NOISE_SEED = 0  # GFPGAN's StyleGAN decoder adds noise: fixed, so the same picture restores the same way twice
RESIDENCY_ROLE = "face_restorer"
EXTRA_ARCHES = "spandrel_extra_arches"
_installed_extra_arches = False


def read(name: str, path: Path, allow_pickle: bool = False):
    """The spandrel model of a face restorer file, or upscalers.UpscalerError saying why not."""
    if name == CODEFORMER:
        _install_extra_arches()
    return upscalers.read(name, path, allow_pickle, purposes=("FaceSR",), kind="face restorer")


def compute_dtype(model, name: str, dtype):
    """The engine's number format where the restorer computes in it, else fp32. spandrel marks CodeFormer as
    bf16-capable, but its codebook lookup multiplies a float32 one-hot by the weights, which fails in bf16."""
    import torch

    supported = {torch.float16: model.supports_half,
                 torch.bfloat16: model.supports_bfloat16 and name != CODEFORMER}.get(dtype, True)
    return dtype if supported else torch.float32


def _install_extra_arches() -> None:
    global _installed_extra_arches
    if _installed_extra_arches:
        return
    try:
        import spandrel_extra_arches
    except ImportError:
        raise upscalers.UpscalerError(
            f"face restorer {CODEFORMER}: its architecture comes with the {EXTRA_ARCHES} package (licensed for "
            f"non-commercial use only): pip install {EXTRA_ARCHES}, or use {GFPGAN}") from None
    spandrel_extra_arches.install(ignore_duplicates=True)
    _installed_extra_arches = True


def restore(picture: Image.Image, model, name: str, codeformer_weight: float = 0.5,
            faces: list[tuple[int, int, int, int]] | None = None) -> tuple[Image.Image, int]:
    """(the picture with each face redrawn by the model, how many faces there were)."""
    picture = picture.convert("RGB")
    faces = find_faces(picture) if faces is None else faces
    result = picture.copy()
    for box in faces:
        square = _square_around(box, picture.size)
        side = square[2] - square[0]
        face = picture.crop(square).resize((FACE_SIDE, FACE_SIDE), Image.LANCZOS)
        redrawn = _redraw(face, model, name, codeformer_weight).resize((side, side), Image.LANCZOS)
        result.paste(redrawn, square[:2], _feathered_mask(side))
    return result, len(faces)


def _square_around(box, size) -> tuple[int, int, int, int]:
    """A square CROP_FACTOR times the face's box, moved inside the picture (and no larger than it)."""
    left, top, right, bottom = box
    side = min(int(max(right - left, bottom - top) * CROP_FACTOR), *size)
    x = min(max(0, (left + right) // 2 - side // 2), size[0] - side)
    y = min(max(0, (top + bottom) // 2 - side // 2), size[1] - side)
    return x, y, x + side, y + side


def _feathered_mask(side: int) -> Image.Image:
    edge = max(1, int(side * FEATHER))
    mask = Image.new("L", (side, side), 0)
    ImageDraw.Draw(mask).rectangle((edge, edge, side - 1 - edge, side - 1 - edge), fill=255)
    return mask.filter(ImageFilter.GaussianBlur(edge / 2))


def _redraw(face: Image.Image, model, name: str, codeformer_weight: float) -> Image.Image:
    parameter = next(model.model.parameters())
    pixels = torch.from_numpy(np.asarray(face, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1).unsqueeze(0)
    pixels = pixels.to(parameter.device, parameter.dtype)  # both take and give pixels in [-1, 1]
    devices = [parameter.device] if parameter.device.type == "cuda" else []
    with torch.inference_mode(), torch.random.fork_rng(devices=devices):
        torch.manual_seed(NOISE_SEED)
        if name == CODEFORMER:  # A1111's "CodeFormer weight": 0 changes the face most, 1 least
            made = model.model(pixels, weight=codeformer_weight)[0]
        else:
            made = model.model(pixels, return_rgb=False)[0]
    made = ((made[0].float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(made)


def write_random_gfpgan(path: Path) -> Path:
    """A GFPGAN v1.4 file with random weights, as GFPGAN ships it ({"params_ema": ...}). spandrel builds GFPGAN at
    its one full size (86M parameters), so the file is too: stored in half precision, 174 MB, a few seconds."""
    from spandrel.architectures.GFPGAN import GFPGAN as Network

    torch.manual_seed(2)
    network = Network(out_size=FACE_SIDE, num_style_feat=512, channel_multiplier=2, decoder_load_path=None,
                      fix_decoder=False, num_mlp=8, input_is_latent=True, different_w=True, narrow=1, sft_half=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params_ema": {k: v.half() for k, v in network.state_dict().items()}}, path)
    return path


def write_random_codeformer(path: Path) -> Path:
    """A CodeFormer file with random weights ({"params_ema": ...}): its VQGAN has one size, its transformer is kept
    to one small layer (spandrel reads the sizes from the weights). Needs spandrel_extra_arches."""
    _install_extra_arches()
    from spandrel_extra_arches.architectures.CodeFormer import CodeFormer as Network

    torch.manual_seed(3)
    network = Network(dim_embd=64, n_head=8, n_layers=1, codebook_size=64, latent_size=256,
                      connect_list=["32", "64", "128", "256"])
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params_ema": {k: v.half() for k, v in network.state_dict().items()}}, path)
    return path
