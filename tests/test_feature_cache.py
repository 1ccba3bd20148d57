"""The feature cache, on the tiny models: off it changes nothing; on, the deep part of the denoiser runs on one call in
N, the picture stays close to the uncached one, the same seed paints it again, and the shared denoiser is left as it
was, even after an error."""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pipelines import feature_cache
from pipelines.request import GenerationRequest
from pipelines.tasks import make_view

STEPS = 6


def loaded(manager, model, **fields):
    """The manager's own pipeline for a model (the shared modules the engine will cache), loaded by a tiny run."""
    manager.generate(GenerationRequest(model=model, prompt="a fox", seed=1, steps=1, **fields))
    pipe = manager.cache.get(f"base:{model}").pipeline
    pipe.set_progress_bar_config(disable=True)
    return pipe


def paint(pipe, seed=1, steps=STEPS, size=64, **arguments):
    return pipe("a fox in snow", num_inference_steps=steps, height=size, width=size, output_type="np",
                generator=torch.Generator("cpu").manual_seed(seed), **arguments).images[0]


@contextmanager
def counting(*modules):
    """How many times each module computed: a module inside a block runs only when the block itself computes."""
    counts = [0] * len(modules)
    handles = [m.register_forward_hook(lambda *_, i=i: counts.__setitem__(i, counts[i] + 1))
               for i, m in enumerate(modules)]
    try:
        yield counts
    finally:
        for handle in handles:
            handle.remove()


def deep_and_shallow(unet):
    return unet.mid_block.resnets[0], unet.down_blocks[-1].resnets[0], unet.up_blocks[-1].resnets[0]


def assert_close_but_cached(cached, plain, other_seed):
    """Not the uncached picture, but far nearer to it than another seed's (measured: ~0.004-0.008 against ~0.16)."""
    assert 0 < np.abs(cached - plain).mean() < 0.1 * np.abs(other_seed - plain).mean()


def hooks_on(module) -> set:
    """Every diffusers hook under a module, by where it is and its name (the engine may have its own there)."""
    return {(where, name) for where, m in module.named_modules()
            for name in getattr(getattr(m, "_diffusers_hook", None), "hooks", {})}


@pytest.fixture(scope="module")
def sd15(manager):
    return loaded(manager, "tiny-sd15")


def test_off_paints_exactly_the_uncached_picture_and_writes_no_parameter(sd15):
    plain = paint(sd15)
    for interval in (0, 1):
        with feature_cache.applied(sd15, interval):
            assert np.array_equal(paint(sd15), plain)
        assert feature_cache.labels(interval) == {}
    assert feature_cache.labels(3) == {"Feature cache": 3}


@pytest.mark.parametrize("model", ["tiny-sd15", "tiny-sdxl"])
def test_every_third_step_runs_the_deep_blocks_and_the_same_seed_paints_the_same_close_picture(manager, model):
    pipe = loaded(manager, model)
    plain, other_seed = paint(pipe), paint(pipe, seed=2)
    with feature_cache.applied(pipe, 3), counting(*deep_and_shallow(pipe.unet)) as counts:
        cached = paint(pipe)
    assert counts == [2, 2, STEPS]  # mid and deepest down block on steps 0 and 3, the shallow up block on all six
    with feature_cache.applied(pipe, 3):
        assert np.array_equal(paint(pipe), cached)  # a fresh run each time: the same seed, the same picture
    assert_close_but_cached(cached, plain, other_seed)
    assert np.array_equal(paint(pipe), plain)  # and afterwards the shared UNet paints as if never cached


def test_after_the_run_even_one_that_failed_the_unet_computes_as_before(sd15):
    plain, hooks_before = paint(sd15), hooks_on(sd15.unet)

    def fail_at_step_2(pipe, step, timestep, callback_kwargs):
        if step == 2:
            raise RuntimeError("stopped by the user")
        return callback_kwargs

    with pytest.raises(RuntimeError, match="stopped by the user"):
        with feature_cache.applied(sd15, 3):
            paint(sd15, callback_on_step_end=fail_at_step_2)
    assert hooks_on(sd15.unet) == hooks_before
    assert np.array_equal(paint(sd15), plain)
    with feature_cache.applied(sd15, 3):  # and the next cached runs start afresh, not from the failed one
        again = paint(sd15)
    with feature_cache.applied(sd15, 3):
        assert np.array_equal(paint(sd15), again)


def test_a_second_pass_of_another_size_in_the_same_run_computes_its_own_features(sd15):
    with feature_cache.applied(sd15, 3):
        paint(sd15, steps=5)  # ends on a cached call: the next one cannot reuse 64x64 features
        larger = paint(sd15, size=96)
    assert larger.shape == (96, 96, 3)


def test_controlnet_img2img_and_the_9_channel_inpaint_unet_are_cached_too(manager, sd15, tiny_dir, photo,
                                                                          square_mask):
    from diffusers import ControlNetModel

    canny = ControlNetModel.from_pretrained(tiny_dir / "controlnet-sd15-canny-tiny", dtype=sd15.unet.dtype)
    inpaint = loaded(manager, "tiny-sd15-inpaint", task="inpaint", image=photo, mask=square_mask, strength=1.0)
    runs = [(make_view(sd15, "controlnet", [canny], False, False), dict(image=photo)),
            (make_view(sd15, "img2img", [], True, False), dict(image=photo, strength=1.0)),
            (inpaint, dict(image=photo, mask_image=square_mask))]
    for view, arguments in runs:
        hooks_before = hooks_on(view.unet)
        plain, other_seed = paint(view, **arguments), paint(view, seed=2, **arguments)
        with feature_cache.applied(view, 3), counting(*deep_and_shallow(view.unet)) as counts:
            cached = paint(view, **arguments)
        assert counts == [2, 2, STEPS], type(view).__name__
        assert_close_but_cached(cached, plain, other_seed)
        assert hooks_on(view.unet) == hooks_before


def test_flux_is_cached_with_diffusers_taylorseer_and_left_as_it_was(manager):
    flux = loaded(manager, "tiny-flux")
    transformer = flux.transformer
    plain, other_seed, hooks_before = paint(flux), paint(flux, seed=2), hooks_on(transformer)
    first_and_last_block = transformer.transformer_blocks[0].norm1, transformer.single_transformer_blocks[-1].norm
    with feature_cache.applied(flux, 3), counting(*first_and_last_block, transformer.x_embedder) as counts:
        cached = paint(flux)
    assert counts == [2, 2, STEPS]  # the blocks on steps 0 and 3; the input embedding on all six
    assert_close_but_cached(cached, plain, other_seed)
    assert not transformer.is_cache_enabled and hooks_on(transformer) == hooks_before
    assert np.array_equal(paint(flux), plain)


def test_sd3_says_it_cannot_be_cached(tiny_dir):
    from diffusers import SD3Transformer2DModel

    transformer = SD3Transformer2DModel.from_pretrained(tiny_dir / "sd3-tiny", subfolder="transformer")
    sd3 = SimpleNamespace(transformer=transformer)  # the cache reads only the view's denoiser
    with pytest.raises(ValueError, match=r"feature_cache: SD 3\.x cannot use it"):
        with feature_cache.applied(sd3, 3):
            pass
    assert hooks_on(transformer) == set()
