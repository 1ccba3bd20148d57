"""Variation seeds, as A1111 makes them (modules/processing.py, create_random_tensors): each picture's starting noise
is its seed's noise slerped toward its variation seed's (`subseed`, one more per picture) by `subseed_strength`;
`seed_resize_from` draws the seed's noise as for another size and centres it on the picture's, so a seed keeps
its composition at a new size.

diffusers draws the starting noise inside each pipeline with `randn_tensor`, one CPU generator per picture (see
the manager). During a run with a variation, `noise_of` stands in for the pipeline module's `randn_tensor` for
those draws: it reads each picture's seed back from its generator, so every pass (the hires fix's second one
too) gets the noise A1111 would give. A run without a variation is not touched, so strength 0 is the seed's own
picture, bit for bit.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

import torch

from .request import GenerationRequest


def is_varied(request: GenerationRequest) -> bool:
    return request.subseed_strength > 0 or (request.seed_resize_from_w > 0 and request.seed_resize_from_h > 0)


def slerp(strength: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation per row, as A1111's `slerp` (nearly parallel rows: its linear mix, as it writes it)."""
    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if dot.mean() > 0.9995:
        return low * strength + high * (1 - strength)
    omega = torch.acos(dot)
    sine = torch.sin(omega)
    return ((torch.sin((1.0 - strength) * omega) / sine).unsqueeze(1) * low
            + (torch.sin(strength * omega) / sine).unsqueeze(1) * high)


def _randn(seed: int, shape) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))


def picture_noise(shape, seed: int, subseed: int, request: GenerationRequest) -> torch.Tensor:
    """One picture's starting noise, shape (channels, height, width), in A1111's way."""
    resize_w, resize_h = request.seed_resize_from_w, request.seed_resize_from_h
    noise_shape = shape if resize_w <= 0 or resize_h <= 0 else (shape[0], resize_h // 8, resize_w // 8)
    noise = _randn(seed, noise_shape)
    if request.subseed_strength > 0:
        noise = slerp(request.subseed_strength, noise, _randn(subseed, noise_shape))
    if tuple(noise_shape) != tuple(shape):  # the other size's noise, centred, on the picture's own
        full = _randn(seed, shape)
        dx, dy = (shape[2] - noise_shape[2]) // 2, (shape[1] - noise_shape[1]) // 2
        width = noise_shape[2] if dx >= 0 else noise_shape[2] + 2 * dx
        height = noise_shape[1] if dy >= 0 else noise_shape[1] + 2 * dy
        tx, ty, dx, dy = max(dx, 0), max(dy, 0), max(-dx, 0), max(-dy, 0)
        full[:, ty:ty + height, tx:tx + width] = noise[:, dy:dy + height, dx:dx + width]
        noise = full
    return noise


@contextmanager
def varied_noise(view, request: GenerationRequest):
    """Inside, the view's pipeline draws its starting noise with the request's variation (when it has one)."""
    module = sys.modules[type(view).__module__]
    original = getattr(module, "randn_tensor", None)
    if not is_varied(request) or original is None:
        yield
        return
    def noise_of(shape, generator=None, device=None, dtype=None, layout=None):
        if len(shape) != 4 or not isinstance(generator, list) or len(generator) != shape[0]:
            return original(shape, generator=generator, device=device, dtype=dtype, layout=layout)
        # picture i's variation seed is subseed + i, as A1111 numbers them across a batch
        noise = [picture_noise(shape[1:], g.initial_seed(), request.subseed + i, request)
                 for i, g in enumerate(generator)]
        return torch.stack(noise).to(device=device, dtype=dtype)

    module.randn_tensor = noise_of
    try:
        yield
    finally:
        module.randn_tensor = original


def labels(request: GenerationRequest, index: int) -> dict:
    """Picture `index`'s entries in the parameters text, by A1111's names."""
    added = {}
    if request.subseed_strength > 0:
        added.update({"Variation seed": request.subseed + index, "Variation seed strength": request.subseed_strength})
    if request.seed_resize_from_w > 0 and request.seed_resize_from_h > 0:
        added["Seed resize from"] = f"{request.seed_resize_from_w}x{request.seed_resize_from_h}"
    return added
