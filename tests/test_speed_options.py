"""Speed options change how fast a picture comes, never which picture: each can be turned on and is checked here."""

from __future__ import annotations

import numpy as np

from pipelines.request import GenerationRequest


def test_a_compiled_unet_paints_the_same_picture(manager, make_manager):
    request = GenerationRequest(prompt="a lighthouse", steps=3, seed=21, width=64, height=64)
    plain = np.asarray(manager.generate(request).images[0], dtype=np.int16)
    compiled = make_manager(compile=True)
    first = np.asarray(compiled.generate(request).images[0], dtype=np.int16)  # compiles: slow once
    again = np.asarray(compiled.generate(request).images[0], dtype=np.int16)
    assert np.abs(first - plain).max() <= 2  # float rounding of fused kernels, not a different picture
    assert np.array_equal(first, again)
    assert compiled.cache.get("base:tiny-sd15").pipeline.unet._compiled_call_impl is not None
