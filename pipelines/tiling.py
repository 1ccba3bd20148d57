"""Seamless tiling, as A1111's `tiling`: every convolution of the UNet and the VAE pads circularly during a run,
so the picture's left edge continues its right one and its top its bottom; the padding is put back after.

The base's modules are shared by every view and every run, so the change lives only inside `seamless`.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


def _convolutions(view) -> list[torch.nn.Conv2d]:
    modules = [getattr(view, name, None) for name in ("unet", "vae")]
    return [layer for module in modules if module is not None for layer in module.modules()
            if isinstance(layer, torch.nn.Conv2d)]


@contextmanager
def seamless(view, on: bool):
    """Inside, the view's UNet and VAE convolutions pad circularly when `on`; as they were afterwards."""
    if not on:
        yield
        return
    layers = _convolutions(view)
    before = [layer.padding_mode for layer in layers]
    for layer in layers:
        layer.padding_mode = "circular"
    try:
        yield
    finally:
        for layer, mode in zip(layers, before):
            layer.padding_mode = mode
