"""FreeU (diffusers' enable_freeu): the UNet's backbone features weighed up and its skip features down, with the
values diffusers' guide gives for each family, during a run only (the UNet is shared by every view)."""

from __future__ import annotations

from contextlib import contextmanager

# diffusers' "FreeU" guide (from the FreeU authors' table): SD 1.5, SD 2.1, SDXL
VALUES = {"sd1": dict(s1=0.9, s2=0.2, b1=1.5, b2=1.6), "sd2": dict(s1=0.9, s2=0.2, b1=1.4, b2=1.6),
          "sdxl": dict(s1=0.6, s2=0.4, b1=1.1, b2=1.2)}


def label(family: str) -> str:
    """How the parameters text names it, e.g. "b1 1.5 b2 1.6 s1 0.9 s2 0.2"."""
    values = VALUES[family]
    return " ".join(f"{key} {values[key]:g}" for key in ("b1", "b2", "s1", "s2"))


@contextmanager
def applied(view, family: str, on: bool):
    if not on:
        yield
        return
    view.enable_freeu(**VALUES[family])
    try:
        yield
    finally:
        view.disable_freeu()
