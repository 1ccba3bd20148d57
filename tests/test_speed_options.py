"""Speed options change how fast a picture comes, never which picture: each can be turned on and is checked here."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from pipelines import compilation
from pipelines.request import GenerationRequest

REQUEST = GenerationRequest(prompt="a lighthouse", steps=3, seed=21, width=64, height=64)


def _pixels(result) -> np.ndarray:
    return np.asarray(result.images[0], dtype=np.int16)


@pytest.mark.parametrize(("setting", "device", "expected"), [
    ("auto", "cuda", True), ("auto", "cpu", False), ("auto", "mps", False), ("on", "cpu", True),
    ("off", "cuda", False)])
def test_compiling_is_on_by_default_on_a_gpu_only(setting, device, expected):
    assert compilation.wanted(setting, torch.device(device)) is expected


def test_the_cpu_default_compiles_nothing(manager):
    assert manager.compiler is None
    assert manager.status()["compile"] == "off"


def test_the_first_picture_does_not_wait_for_the_compile_and_the_compiled_one_is_the_same(make_manager, tmp_path,
                                                                                          monkeypatch):
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    # in fp32, where a fused kernel's rounding stays below a pixel level (bf16 rounds each kernel coarser)
    plain = _pixels(make_manager(dtype="fp32").generate(REQUEST))
    compiled = make_manager(compile="on", compile_cache=str(tmp_path), dtype="fp32")
    first = compiled.generate(REQUEST)  # eager: the blocks compile in the background meanwhile
    unet = compiled.cache.get("base:tiny-sd15").pipeline.unet
    assert compiled.compiler.calls(unet)["compiled"] == 0
    assert compiled.compiler.wait(unet, timeout=600)
    again = compiled.generate(REQUEST)
    assert compiled.compiler.calls(unet)["compiled"] > 0
    assert np.array_equal(_pixels(first), plain)
    assert np.abs(_pixels(again) - plain).max() <= 2  # float rounding of fused kernels, not a different picture
    assert not again.fallbacks
    assert (tmp_path / "inductor").is_dir()  # torch's on-disk cache, in Easel's folder: a later start reuses it


def test_a_compile_that_fails_is_said_once_and_the_pictures_come_eagerly(manager, make_manager, monkeypatch,
                                                                         caplog, tmp_path):
    def no_kernels(function, **options):
        def call(*args, **kwargs):
            raise RuntimeError("inductor: no kernels for this GPU")
        return call

    monkeypatch.setattr(torch, "compile", no_kernels)
    plain = _pixels(manager.generate(REQUEST))
    compiled = make_manager(compile="on", compile_cache=str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="pipelines.compilation"):
        first = compiled.generate(REQUEST)
        unet = compiled.cache.get("base:tiny-sd15").pipeline.unet
        assert compiled.compiler.wait(unet, timeout=60) is False
        again = compiled.generate(REQUEST)
    assert np.array_equal(_pixels(first), plain) and np.array_equal(_pixels(again), plain)
    assert "compiling BasicTransformerBlock failed (RuntimeError): it ran in eager PyTorch" in again.fallbacks
    assert sum("compiling BasicTransformerBlock" in r.getMessage() for r in caplog.records) == 1
