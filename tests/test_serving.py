"""One run per device at a time, a lock that is always released, Stop within a step, out-of-memory recovery."""

from __future__ import annotations

import threading

import pytest
import torch

from pipelines.manager import OutOfMemory
from pipelines.errors import GenerationCancelled, InvalidRequest
from pipelines.request import CancelToken, GenerationRequest


def lock_is_free(manager) -> bool:
    """Ask from another thread, as the next user's request would."""
    answer = []

    def probe():
        got = manager._lock.acquire(timeout=2)
        answer.append(got)
        if got:
            manager._lock.release()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return answer[0]


def test_stop_ends_the_run_within_one_step_and_frees_the_device(manager):
    token, steps = CancelToken(), []

    def on_step(info):
        steps.append(info.step)
        if info.step == 2:
            token.cancel()  # the user presses Stop during step 3's wait

    with pytest.raises(GenerationCancelled):
        manager.generate(GenerationRequest(prompt="a", steps=10, seed=1), on_step=on_step, cancel=token)
    assert steps == [1, 2]
    assert lock_is_free(manager)
    assert manager.generate(GenerationRequest(prompt="a", steps=1, seed=1)).images


def test_stop_pressed_many_times_in_a_row_each_stops_and_the_next_run_works(manager):
    for _ in range(5):
        token = CancelToken()
        with pytest.raises(GenerationCancelled):
            manager.generate(GenerationRequest(prompt="a", steps=20, seed=1), on_step=lambda info: token.cancel(),
                             cancel=token)
        assert lock_is_free(manager)
    assert manager.generate(GenerationRequest(prompt="a", steps=1, seed=1)).images


def test_a_bad_request_is_refused_and_the_lock_stays_free(manager):
    with pytest.raises(InvalidRequest) as refused:
        manager.generate(GenerationRequest(prompt="a", steps=0))
    assert refused.value.field == "steps"
    assert lock_is_free(manager)


def _fail_with_oom(module, times):
    original = module.forward
    calls = {"n": 0}

    def forward(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= times:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
        return original(*args, **kwargs)

    module.forward = forward
    return lambda: setattr(module, "forward", original) if "forward" in vars(module) and vars(module).pop("forward") else None


def test_out_of_memory_is_retried_in_a_frugal_mode_and_recorded(make_manager):
    manager = make_manager()
    manager.generate(GenerationRequest(prompt="a", steps=1, seed=1))
    restore = _fail_with_oom(manager.cache.get("base:tiny-sd15").pipeline.unet, times=1)
    try:
        result = manager.generate(GenerationRequest(prompt="a", steps=2, seed=1))
    finally:
        restore()
    assert result.images[0].size == (64, 64)
    assert result.fallbacks and "VAE tiling" in result.fallbacks[0]
    assert "Memory fallback" in result.infotexts[0]
    assert not manager.cache.get("base:tiny-sd15").pipeline.vae.use_tiling  # tiling was for that run only
    assert lock_is_free(manager)


def test_out_of_memory_in_every_mode_gives_a_clear_error_and_the_next_run_works(make_manager):
    manager = make_manager()
    manager.generate(GenerationRequest(prompt="a", steps=1, seed=1))
    unet = manager.cache.get("base:tiny-sd15").pipeline.unet
    restore = _fail_with_oom(unet, times=100)
    try:
        with pytest.raises(OutOfMemory, match="lower the size or the batch"):
            manager.generate(GenerationRequest(prompt="a", steps=2, seed=1))
    finally:
        restore()
    assert lock_is_free(manager)
    result = manager.generate(GenerationRequest(prompt="a", steps=2, seed=1))
    assert result.images and result.fallbacks == [] and result.offload_mode == "none"


def test_two_users_at_once_run_one_after_the_other_and_each_gets_their_own_picture(make_manager):
    manager = make_manager()
    running, overlaps, results = [0], [], {}
    guard = threading.Lock()

    def on_step(info):
        with guard:
            overlaps.append(running[0])

    def user(seed):
        def wrapped_step(info):
            on_step(info)

        with guard:
            running[0] += 0
        results[seed] = manager.generate(GenerationRequest(prompt="a", steps=3, seed=seed, width=64, height=72),
                                         on_step=wrapped_step)

    original_call = manager._call

    def counting_call(*args, **kwargs):
        with guard:
            running[0] += 1
        try:
            return original_call(*args, **kwargs)
        finally:
            with guard:
                running[0] -= 1

    manager._call = counting_call
    threads = [threading.Thread(target=user, args=(seed,)) for seed in (11, 22, 33)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert max(overlaps) == 1  # never two runs on the device at once
    assert {seed: r.seeds[0] for seed, r in results.items()} == {11: 11, 22: 22, 33: 33}
    assert all(r.images[0].size == (64, 72) for r in results.values())
