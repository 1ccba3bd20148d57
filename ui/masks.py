"""Masks from what the user painted in the browser's image editor, robust to empty and resized layers."""

from __future__ import annotations

import numpy as np
from PIL import Image


def _picture(value):
    if value is None:
        return None
    if isinstance(value, str):
        return Image.open(value)
    if isinstance(value, np.ndarray):
        return Image.fromarray(value)
    return value


def editor_background(value):
    """The picture under the paint: the editor's background, else its composite."""
    if not value:
        return None
    if not isinstance(value, dict):
        return _picture(value)
    picture = _picture(value.get("background")) or _picture(value.get("composite"))
    return picture.convert("RGB") if picture is not None else None


def editor_mask(value):
    """White where any layer has paint (alpha > 0), at the background's size; None without a picture.

    With nothing painted the mask is all black, so that the engine says "nothing is painted".
    """
    if not isinstance(value, dict):
        return None
    reference = _picture(value.get("background")) or _picture(value.get("composite"))
    layers = [_picture(layer) for layer in (value.get("layers") or []) if layer is not None]
    if reference is None and not layers:
        return None
    size = reference.size if reference is not None else layers[0].size
    mask = np.zeros((size[1], size[0]), bool)
    for layer in layers:
        if layer.mode in ("RGBA", "LA", "PA") or "transparency" in layer.info:
            painted = np.asarray(layer.convert("RGBA"))[..., 3] > 0  # erased strokes are transparent again
        else:
            painted = np.asarray(layer.convert("L")) > 0
        layer_mask = Image.fromarray(painted.astype(np.uint8) * 255, "L")
        if layer_mask.size != size:  # the browser may have scaled the layer
            layer_mask = layer_mask.resize(size, Image.Resampling.NEAREST)
        mask |= np.asarray(layer_mask) > 0
    return Image.fromarray(mask.astype(np.uint8) * 255, "L")
