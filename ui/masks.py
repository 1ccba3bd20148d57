"""Masks from what the user painted in the browser's image editor, robust to empty and resized layers."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pipelines import Limits, load_picture

from .uploads import uploaded


def editor_background(value):
    """The picture under the paint (a path, or bytes): the editor's background, else its composite."""
    if not isinstance(value, dict):
        return uploaded(value, "image")
    return uploaded(value.get("background"), "image") or uploaded(value.get("composite"), "image")


def editor_mask(value, limits: Limits):
    """White where any layer has paint (alpha > 0), at the background's size; None without a picture.

    With nothing painted the mask is all black, so that the engine says "nothing is painted". Layers are
    opened with the engine's safe picture loader: a broken layer is refused as "mask", by name.
    """
    if not isinstance(value, dict):
        return None
    background = editor_background(value)
    layers = [load_picture("mask", uploaded(layer, "mask"), limits, mode="RGBA")
              for layer in (value.get("layers") or []) if layer is not None]
    if background is None and not layers:
        return None
    size = load_picture("image", background, limits).size if background is not None else layers[0].size
    mask = np.zeros((size[1], size[0]), bool)
    for layer in layers:
        pixels = np.asarray(layer)
        # Browser paint is transparent where nothing (or an eraser) went; a fully opaque layer is a
        # black-and-white mask uploaded as a layer, read by brightness.
        alpha = pixels[..., 3]
        painted = alpha > 0 if alpha.min() < 255 else pixels[..., :3].max(axis=2) > 0
        layer_mask = Image.fromarray(painted.astype(np.uint8) * 255, "L")
        if layer_mask.size != size:  # the browser may have scaled the layer
            layer_mask = layer_mask.resize(size, Image.Resampling.NEAREST)
        mask |= np.asarray(layer_mask) > 0
    return Image.fromarray(mask.astype(np.uint8) * 255, "L")
