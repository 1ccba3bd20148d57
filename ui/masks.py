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


# The sketch brushes' colours; the editor's colour picker gives any other.
SKETCH_COLOURS = ["#000000", "#ffffff", "#e03131", "#f08c00", "#ffd43b", "#2f9e44", "#1c7ed6", "#7048e8",
                  "#8d5a3b", "#f2c5a0"]


def sketched_or(picture, sketch, limits: Limits):
    """Image to image's starting picture: the sketch (the picture with the colours painted over it) when
    something is painted on it or no picture was given, else the picture as uploaded."""
    if isinstance(sketch, dict) and editor_background(sketch) is not None:
        painted = editor_mask(sketch, limits)
        if picture is None or (painted is not None and painted.getextrema()[1] > 0):
            return editor_sketch(sketch, limits)
    return uploaded(picture, "image")


def editor_sketch(value, limits: Limits, name: str = "image"):
    """The picture with the paint over it, in the paint's colours (A1111's sketch); None without a picture.

    Composed here from the background and the layers, not taken from the browser's composite: an API caller
    may send no composite, and a layer the browser scaled is fitted to the picture as the mask is.
    """
    if not isinstance(value, dict):
        return None
    background = editor_background(value)
    if background is None:
        return None
    picture = load_picture(name, background, limits, mode="RGBA")
    for layer in value.get("layers") or []:
        if layer is None:
            continue
        paint = load_picture(name, uploaded(layer, name), limits, mode="RGBA")
        if paint.size != picture.size:
            paint = paint.resize(picture.size, Image.Resampling.LANCZOS)
        picture = Image.alpha_composite(picture, paint)
    return picture.convert("RGB")
