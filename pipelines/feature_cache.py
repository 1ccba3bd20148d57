"""Feature cache: fewer full denoiser passes, at the user's request, by reusing what changes slowly between steps.

Consecutive denoising steps differ little, and the deepest features of the denoiser differ least. With an interval
N the denoiser runs in full on calls 0, N, 2N, ... of a run; on the calls between:
- a UNet (SD 1.x/2.x, SDXL) follows DeepCache (Ma et al. 2023): only its shallow branch runs (conv_in,
  down_blocks[0], up_blocks[-1], conv_out), fed with what up_blocks[-2] gave on the last full call. The deep
  blocks, where most of the compute of a real model is, are skipped; the shallow ones still see this step's
  latents, timestep, prompt and the ControlNet's residuals for their resolution.
- a FLUX.1 transformer uses diffusers' TaylorSeer cache (its `cache_interval` is this interval): the blocks are
  skipped and the transformer's output is forecast from its last full calls (a first-order Taylor step).
The picture is then close to, not equal to, the uncached one. Hooks are on the shared modules only inside
`applied`, and are taken off on the way out, even on an error.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from diffusers.hooks import HookRegistry, ModelHook

HOOK_NAME = "easel_feature_cache"
_TRANSFORMER_FAMILIES = {"FluxTransformer2DModel": "FLUX.1", "SD3Transformer2DModel": "SD 3.x"}


def labels(interval) -> dict:
    """The picture's parameters text names the interval only when the cache was on."""
    return {"Feature cache": interval} if interval and interval > 1 else {}


@contextmanager
def applied(view, interval: int):
    """interval <= 1: nothing changes. Otherwise the denoiser runs in full on every `interval`-th call
    (calls 0, N, 2N, ...) and on the calls between, the expensive deep part is reused from the last full call."""
    if not interval or interval <= 1:
        yield
        return
    unet, transformer = getattr(view, "unet", None), getattr(view, "transformer", None)
    if unet is not None:
        with _deep_cache(unet, interval):
            yield
    elif transformer is not None:
        with _transformer_cache(transformer, interval):
            yield
    else:
        raise ValueError(f"feature_cache: {type(view).__name__} has neither a UNet nor a transformer to cache")


class _Run:
    """What the hooks of one run share: how many calls so far, and whether this one runs in full."""

    def __init__(self, interval: int):
        self.interval, self.calls, self.full, self.inputs = interval, 0, True, None


class _CountCalls(ModelHook):
    """On the UNet itself: decides, before each call, whether the deep blocks compute or replay."""

    def __init__(self, run: _Run):
        super().__init__()
        self.run = run

    def pre_forward(self, module, *args, **kwargs):
        sample = args[0] if args else kwargs["sample"]
        # A new size or batch (a second pass inside the same run) cannot reuse features of another shape
        inputs = (tuple(sample.shape), sample.dtype, sample.device)
        self.run.full = self.run.calls % self.run.interval == 0 or inputs != self.run.inputs
        self.run.inputs = inputs
        self.run.calls += 1
        return args, kwargs


class _ReplayDeepBlock(ModelHook):
    """On a deep block: computes and keeps its output on full calls, gives it back without computing otherwise."""

    def __init__(self, run: _Run):
        super().__init__()
        self.run, self.kept = run, None

    def new_forward(self, module, *args, **kwargs):
        if self.run.full or self.kept is None:
            output = self.fn_ref.original_forward(*args, **kwargs)
            self.kept = _copied(output)
            return output
        return _copied(self.kept)


def _copied(value):
    # Copies in and out: the next block may change its input in place (FreeU scales half its channels), which
    # must not reach the kept features. The down blocks' (sample, residuals) tuples keep their structure and
    # length, which is what UNet2DConditionModel.forward counts when it hands residuals to the up blocks.
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (tuple, list)):
        return type(value)(_copied(item) for item in value)
    return value


def _deep_blocks(unet) -> list:
    from diffusers import UNet2DConditionModel

    if not isinstance(unet, UNet2DConditionModel) or len(unet.down_blocks) < 2 or len(unet.up_blocks) < 2:
        raise ValueError(f"feature_cache: {type(unet).__name__} is not a UNet with a deep and a shallow branch")
    deep = [*unet.down_blocks[1:], *unet.up_blocks[:-1]]
    return deep + [unet.mid_block] if unet.mid_block is not None else deep


@contextmanager
def _deep_cache(unet, interval: int):
    blocks = _deep_blocks(unet)
    if any(HOOK_NAME in getattr(getattr(m, "_diffusers_hook", None), "hooks", {}) for m in (unet, *blocks)):
        raise ValueError("feature_cache: this UNet is already cached by another run")
    run, hooked = _Run(interval), []  # a fresh run: nothing kept from an earlier picture
    try:
        for block in blocks:
            HookRegistry.check_if_exists_or_initialize(block).register_hook(_ReplayDeepBlock(run), HOOK_NAME)
            hooked.append(block)
        HookRegistry.check_if_exists_or_initialize(unet).register_hook(_CountCalls(run), HOOK_NAME)
        hooked.append(unet)
        yield
    finally:
        for module in reversed(hooked):
            module._diffusers_hook.remove_hook(HOOK_NAME, recurse=False)
        HookRegistry.check_if_exists_or_initialize(unet).invalidate_child_registries_cache()


@contextmanager
def _transformer_cache(transformer, interval: int):
    from diffusers import TaylorSeerCacheConfig
    from diffusers.models.cache_utils import CacheMixin

    family = _TRANSFORMER_FAMILIES.get(type(transformer).__name__, type(transformer).__name__)
    if not isinstance(transformer, CacheMixin):
        raise ValueError(f"feature_cache: {family} cannot use it (diffusers has no cache hooks for its transformer); "
                         "set the feature cache to 1")
    if transformer.is_cache_enabled:
        raise ValueError(f"feature_cache: this {family} transformer is already cached by another run")
    # TaylorSeer computes in full when (step - disable_cache_before_step - 1) % cache_interval == 0: with -1, on
    # steps 0, N, 2N, ... as the UNet path does. Lite mode keeps only the output (not every block's features),
    # in float32 so that a forecast adds no rounding of its own.
    transformer.enable_cache(TaylorSeerCacheConfig(cache_interval=interval, disable_cache_before_step=-1, max_order=1,
                                                   taylor_factors_dtype=torch.float32, use_lite_mode=True))
    try:
        # Only FluxPipeline names its calls with cache_context ("cond", "uncond"); this name serves the others,
        # which make one call a step as Easel runs them (true CFG, unused by Easel, would share one cache there)
        with transformer.cache_context("feature_cache"):
            yield
    finally:
        transformer.disable_cache()
