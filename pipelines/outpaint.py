"""Outpainting: a larger canvas around the picture, its new area filled and masked, for the inpaint path.

The canvas grows by the pixels asked for on each side, rounded up to multiples of 8 (the extra pixels go to
the sides that grow, as A1111's "outpainting mk2" does with 64). The new area starts from the picture's edge
colours, stretched outwards and blurred, or from noise of the picture's colours; either gives the model
something to continue rather than a flat colour it would copy. The mask is white over the new area and reaches
`mask_blur` pixels into the picture (as mk2's does), so that the seam is repainted too; the engine blurs it by
`mask_blur` and pastes the picture back outside it, so the original stays pixel for pixel beyond the seam.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from .request import Outpaint

FILLS = ("edges", "noise")
SIDES = ("left", "right", "up", "down")
MAX_PIXELS = 1024  # per side: a larger extension is better made in steps, each seeing what the last one drew


def canvas_sides(width: int, height: int, outpaint: Outpaint) -> dict[str, int]:
    """Pixels added on each side, the asked-for ones rounded up so that the canvas is a multiple of 8."""
    sides = {side: getattr(outpaint, side) for side in SIDES}
    for first, second, length in (("left", "right", width), ("up", "down", height)):
        grow = sides[first] + sides[second]
        if grow == 0:
            continue
        extra = -(length + grow) % 8
        if sides[first] and sides[second]:  # shared in proportion
            share = extra * sides[first] // grow
            sides[first], sides[second] = sides[first] + share, sides[second] + extra - share
        else:
            sides[first if sides[first] else second] += extra
    return sides


def canvas_size(width: int, height: int, outpaint: Outpaint) -> tuple[int, int]:
    sides = canvas_sides(width, height, outpaint)
    return width + sides["left"] + sides["right"], height + sides["up"] + sides["down"]


def inside(size: tuple[int, int], outpaint: Outpaint) -> tuple[int, int]:
    """Where the picture's top left corner lands on the canvas."""
    sides = canvas_sides(size[0], size[1], outpaint)
    return sides["left"], sides["up"]


def extend(picture: Image.Image, outpaint: Outpaint, mask_blur: int) -> tuple[Image.Image, Image.Image]:
    """The canvas (the picture in place, the new area filled) and its mask (white: to paint)."""
    sides = canvas_sides(picture.width, picture.height, outpaint)
    pixels = np.asarray(picture.convert("RGB"))
    padded = np.pad(pixels, ((sides["up"], sides["down"]), (sides["left"], sides["right"]), (0, 0)), mode="edge")
    canvas = Image.fromarray(padded)
    # Stretched edges are streaks; blurred over about a quarter of the extension they read as colour fields.
    radius = max(8, max(sides.values()) // 4)
    filled = canvas.filter(ImageFilter.GaussianBlur(radius))
    if outpaint.fill == "noise":
        filled = _with_noise(filled, pixels, outpaint.color_variation)
    inside = (sides["left"], sides["up"])
    filled.paste(picture.convert("RGB"), inside)
    mask = Image.new("L", filled.size, 255)
    kept = Image.new("L", _kept_size(picture.size, sides, mask_blur), 0)
    mask.paste(kept, (inside[0] + (mask_blur if sides["left"] else 0), inside[1] + (mask_blur if sides["up"] else 0)))
    return filled, mask


def _kept_size(size: tuple[int, int], sides: dict[str, int], mask_blur: int) -> tuple[int, int]:
    """The part of the picture the mask leaves alone: all of it but `mask_blur` pixels along each grown side."""
    width = size[0] - mask_blur * ((sides["left"] > 0) + (sides["right"] > 0))
    height = size[1] - mask_blur * ((sides["up"] > 0) + (sides["down"] > 0))
    return max(1, width), max(1, height)


def _with_noise(filled: Image.Image, pixels: np.ndarray, color_variation: float) -> Image.Image:
    """Noise with the picture's spread of colours over the blurred edge colours. A fixed generator, as A1111's
    matched noise has: the canvas is the same every time, and the picture follows the run's seed alone."""
    rng = np.random.default_rng(0)
    spread = pixels.reshape(-1, 3).std(axis=0)
    grey = rng.standard_normal(filled.size[::-1] + (1,))
    colour = rng.standard_normal(filled.size[::-1] + (3,))
    noise = (color_variation * colour + (1 - color_variation) * grey) * spread
    return Image.fromarray(np.clip(np.asarray(filled, dtype=np.float64) + noise, 0, 255).astype(np.uint8))


def label(outpaint: Outpaint) -> str:
    """How the infotext names it: the sides that grew and the fill, e.g. "left 128 up 64, fill edges"."""
    grown = " ".join(f"{side} {getattr(outpaint, side)}" for side in SIDES if getattr(outpaint, side))
    return f"{grown}, fill {outpaint.fill}"
