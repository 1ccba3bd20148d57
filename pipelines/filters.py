"""Quick filters, the last step of Extras: brightness, contrast, saturation, sharpness and film grain.

Each is a factor as Pillow's ImageEnhance takes it (1 leaves the picture as it is), and grain an amount from 0
to 1 of seeded noise, so the same settings give the same picture. They are applied to a copy, in one step,
after upscaling and face restoration: the page keeps the picture before them and re-applies the filters alone
when a slider moves, so trying settings never runs a model again.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from PIL import Image, ImageEnhance

LIMITS = {"brightness": (0.0, 2.0), "contrast": (0.0, 2.0), "saturation": (0.0, 2.0), "sharpness": (0.0, 3.0),
          "grain": (0.0, 1.0)}
GRAIN_STRENGTH = 64  # grain 1: noise of this standard deviation, in 0-255 levels
GRAIN_SEED = 0
_ENHANCERS = {"brightness": ImageEnhance.Brightness, "contrast": ImageEnhance.Contrast,
              "saturation": ImageEnhance.Color, "sharpness": ImageEnhance.Sharpness}


NEUTRAL = {"brightness": 1.0, "contrast": 1.0, "saturation": 1.0, "sharpness": 1.0, "grain": 0.0}  # no change


@dataclass(frozen=True)
class Filters:
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    sharpness: float = 1.0
    grain: float = 0.0

    def changed(self) -> dict[str, float]:
        """The filters that change the picture, by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != NEUTRAL[f.name]}

    def label(self) -> str | None:
        """For the parameters text: "brightness 1.1 grain 0.2", or None when nothing changes."""
        changed = self.changed()
        return " ".join(f"{name} {value:g}" for name, value in changed.items()) or None


def apply(picture: Image.Image, filters: Filters) -> Image.Image:
    """The picture with the filters applied, in a fixed order (tone, then colour, then detail, then grain)."""
    changed = filters.changed()
    result = picture.convert("RGB")
    for name, enhancer in _ENHANCERS.items():
        if name in changed:
            result = enhancer(result).enhance(changed[name])
    if "grain" in changed:
        noise = np.random.default_rng(GRAIN_SEED).normal(0, GRAIN_STRENGTH * changed["grain"], (result.height, result.width, 1))
        result = Image.fromarray(np.clip(np.asarray(result, dtype=np.float32) + noise, 0, 255).astype(np.uint8))
    return result
