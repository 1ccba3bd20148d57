"""A1111's Extras on one picture, in A1111's order: upscale, GFPGAN, CodeFormer; then Easel's quick filters.

Each step is optional and says what it did with A1111's labels (scripts/postprocessing_upscale.py,
postprocessing_gfpgan.py, postprocessing_codeformer.py), which the manager adds to the picture's own parameters
text: "Postprocess upscale by" or "Postprocess upscale to", "Postprocess crop to", "Postprocess upscaler",
"Postprocess upscaler 2", "GFPGAN visibility", "CodeFormer visibility", "CodeFormer weight"; and "Filters".
A restorer that finds no face leaves the picture as it was and says so: a note, not an error.
The models are the manager's to load and place; this module only chains what it is given.
"""

from __future__ import annotations

from typing import Callable

from PIL import Image

from . import filters as quick_filters
from .catalog import BUILTIN_UPSCALERS
from .face_restoration import CODEFORMER, GFPGAN
from .request import ExtrasRequest

NO_UPSCALE = "None"


def run(request: ExtrasRequest, upscale: Callable, restore: Callable) -> tuple[Image.Image, dict, list[str]]:
    """(the finished picture, what was done as parameters-text labels, notes for the user) for a resolved request.
    upscale(picture, upscaler, scale) -> picture; restore(picture, restorer, codeformer_weight) -> (picture, faces)."""
    picture, done, notes = request.image.convert("RGB"), {}, []
    if request.upscaler != NO_UPSCALE:
        picture = _upscaled(picture, request, upscale, done)
    for name, visibility in ((GFPGAN, request.gfpgan_visibility), (CODEFORMER, request.codeformer_visibility)):
        if visibility > 0:
            restored, faces = restore(picture, name, request.codeformer_weight)
            if not faces:
                notes.append(f"{name}: no face found in the picture, so it was left as it was")
                continue
            picture = Image.blend(picture, restored, visibility) if visibility < 1 else restored
            done[f"{name} visibility"] = round(visibility, 3)
            if name == CODEFORMER:
                done["CodeFormer weight"] = round(request.codeformer_weight, 3)
    chosen = quick_filters.Filters(**request.filters)
    if chosen.changed():
        picture = quick_filters.apply(picture, chosen)
        done["Filters"] = chosen.label()
    if not done and not notes:
        notes.append("nothing was asked: choose an upscaler, a face restorer or a filter")
    return picture, done, notes


def needs_models(request: ExtrasRequest) -> bool:
    """Whether a resolved request runs a model (an upscaler file or a face restorer), and so needs the device."""
    resamplers = (NO_UPSCALE, *BUILTIN_UPSCALERS)
    upscaling = request.upscaler not in resamplers or (request.upscaler_2 or NO_UPSCALE) not in resamplers
    return upscaling or request.gfpgan_visibility > 0 or request.codeformer_visibility > 0


def _upscaled(picture: Image.Image, request: ExtrasRequest, upscale: Callable, done: dict) -> Image.Image:
    made = upscale(picture, request.upscaler, request.scale)
    if request.upscaler_2:
        other = upscale(picture, request.upscaler_2, request.scale)
        made = Image.blend(made, other.convert(made.mode).resize(made.size), request.upscaler_2_visibility)
    if request.resize_to:
        done["Postprocess upscale to"] = f"{request.resize_to[0]}x{request.resize_to[1]}"
        if request.crop:
            made = _centre_crop(made, *request.resize_to)
            done["Postprocess crop to"] = f"{request.resize_to[0]}x{request.resize_to[1]}"
    else:
        done["Postprocess upscale by"] = round(request.scale, 3)
    done["Postprocess upscaler"] = request.upscaler
    if request.upscaler_2:
        done["Postprocess upscaler 2"] = request.upscaler_2
    return made


def _centre_crop(picture: Image.Image, width: int, height: int) -> Image.Image:
    left, top = (picture.width - width) // 2, (picture.height - height) // 2
    return picture.crop((left, top, left + width, top + height))
