"""Weights are shared between tasks, swapped under a device budget, and dropped from RAM past its budget."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.request import ControlUnit, GenerationRequest

MIB = 2**20


def test_switching_task_loads_nothing_and_keeps_the_same_modules(make_manager, photo, square_mask, monkeypatch):
    import diffusers

    manager = make_manager()
    manager.generate(GenerationRequest(prompt="warm up", steps=1, seed=1))
    manager.generate(GenerationRequest(task="controlnet", prompt="warm up", steps=1, seed=1,
                                       control_units=[ControlUnit("canny", image=photo)]))
    loads_before = dict(manager.cache.loads)

    def no_loading(*args, **kwargs):
        raise AssertionError("a task switch must not load weights")

    monkeypatch.setattr(diffusers.DiffusionPipeline, "from_pretrained", no_loading)
    monkeypatch.setattr(diffusers.ModelMixin, "from_pretrained", no_loading)
    requests = [
        GenerationRequest(task="img2img", prompt="a", image=photo, steps=2, seed=1),
        GenerationRequest(task="controlnet", prompt="a", image=photo, mask=square_mask, steps=2, seed=1,
                          control_units=[ControlUnit("canny", image=photo)]),
        GenerationRequest(task="controlnet", prompt="a", steps=2, seed=1, control_units=[ControlUnit("canny", image=photo)]),
        GenerationRequest(prompt="a", steps=1, seed=1),
    ]
    for request in requests:
        manager.generate(request)

    assert manager.cache.loads == loads_before
    base = manager.cache.get("base:tiny-sd15").pipeline
    views = list(manager._views.values())
    assert len(views) >= 4
    for view in views:
        if view.unet.config.in_channels == 4:  # every view of the SD 1.x base holds the base's own modules
            assert view.unet is base.unet and view.vae is base.vae and view.text_encoder is base.text_encoder


def _component_bytes(manager, key):
    return manager.residency.components[key].nbytes


def test_alternating_two_bases_and_two_controlnets_under_a_small_budget_evicts_and_succeeds(make_manager, photo):
    manager = make_manager()
    # Learn the sizes, then set a budget that holds one base model with a ControlNet but not two bases.
    manager.generate(GenerationRequest(task="controlnet", prompt="a", steps=1, seed=1, control_units=[ControlUnit("canny", image=photo)]))
    manager.generate(GenerationRequest(model="tiny-sdxl", task="controlnet", prompt="a", steps=1, seed=1,
                                       control_units=[ControlUnit("canny", image=photo)]))
    sd15 = sum(_component_bytes(manager, f"tiny-sd15/{r}") for r in ("unet", "vae", "text_encoder"))
    sdxl = sum(_component_bytes(manager, f"tiny-sdxl/{r}") for r in ("unet", "vae", "text_encoder", "text_encoder_2"))
    largest_run = max(sd15 + _component_bytes(manager, "sd1/canny/controlnet"),
                      sdxl + _component_bytes(manager, "sdxl/canny/controlnet"))
    manager.residency.fixed_budget = largest_run + MIB // 16
    assert manager.residency.fixed_budget < sd15 + sdxl

    requests = [
        GenerationRequest(task="controlnet", prompt="a", steps=2, seed=1, control_units=[ControlUnit("canny", image=photo)]),
        GenerationRequest(model="tiny-sdxl", task="controlnet", prompt="a", steps=2, seed=1,
                          control_units=[ControlUnit("canny", image=photo)]),
        GenerationRequest(task="controlnet", prompt="a", steps=2, seed=1, control_units=[ControlUnit("tile", image=photo)]),
        GenerationRequest(model="tiny-sdxl", prompt="a", steps=2, seed=1),
    ] * 2
    evictions_before = manager.residency.evictions
    results = [manager.generate(r) for r in requests]

    assert all(r.images[0].size == (64, 64) and r.offload_mode == "none" for r in results)
    report = manager.status()
    assert report["evictions"] > evictions_before
    evicted = {m["component"] for m in report["recent_moves"] if m["why"].startswith("evicted")}
    assert {"tiny-sd15/unet", "tiny-sdxl/unet"} <= evicted
    assert report["on_device_bytes"] <= manager.residency.fixed_budget
    rows = {(row["model"], row["component"]): row for row in report["components"]}
    assert rows[("tiny-sdxl", "unet")]["where"] == str(manager.device)  # the last run's model stays on the device
    assert rows[("tiny-sd15", "unet")]["where"] == "RAM"


def test_a_run_larger_than_the_budget_falls_back_to_offload_and_says_so(make_manager):
    manager = make_manager()
    manager.generate(GenerationRequest(prompt="a", steps=1, seed=1))
    unet = _component_bytes(manager, "tiny-sd15/unet")

    manager.residency.fixed_budget = unet + MIB // 8  # the UNet fits alone, not with the rest
    model_offload = manager.generate(GenerationRequest(prompt="a", steps=2, seed=3))
    manager.residency.fixed_budget = unet // 2  # not even the UNet fits
    sequential = manager.generate(GenerationRequest(prompt="a", steps=2, seed=3))
    manager.residency.fixed_budget = None
    plain = manager.generate(GenerationRequest(prompt="a", steps=2, seed=3))

    assert (model_offload.offload_mode, sequential.offload_mode, plain.offload_mode) == ("model", "sequential", "none")
    assert np.array_equal(np.asarray(model_offload.images[0]), np.asarray(plain.images[0]))
    assert np.array_equal(np.asarray(sequential.images[0]), np.asarray(plain.images[0]))
    assert manager.status()["last_run"]["mode"] == "none"


@pytest.mark.parametrize("mode", ["none", "model", "sequential"])
def test_a_forced_offload_mode_is_used_and_gives_the_same_picture(make_manager, mode):
    reference = make_manager().generate(GenerationRequest(prompt="a", steps=2, seed=8))
    result = make_manager(offload=mode).generate(GenerationRequest(prompt="a", steps=2, seed=8))
    assert result.offload_mode == mode
    assert np.array_equal(np.asarray(result.images[0]), np.asarray(reference.images[0]))


def test_past_the_ram_budget_the_oldest_model_is_dropped_and_reloaded_when_asked(make_manager):
    manager = make_manager()
    manager.generate(GenerationRequest(prompt="a", steps=1, seed=1))
    one_base = manager.cache.total_bytes()
    manager.cache.max_bytes = int(one_base * 1.5)  # room for one base model, not two

    manager.generate(GenerationRequest(model="tiny-sdxl", prompt="a", steps=1, seed=1))
    assert manager.cache.keys() == ["base:tiny-sdxl"]
    assert "base:tiny-sd15" in manager.cache.dropped
    assert not any(c.owner == "tiny-sd15" for c in manager.residency.components.values())

    again = manager.generate(GenerationRequest(prompt="a", steps=1, seed=1))
    assert again.images[0].size == (64, 64)
    assert manager.cache.loads["base:tiny-sd15"] == 2


def test_the_status_report_says_what_is_where_with_bytes(make_manager):
    manager = make_manager()
    manager.generate(GenerationRequest(prompt="a", steps=1, seed=1))
    report = manager.status()
    rows = {(r["model"], r["component"]): r for r in report["components"]}
    assert {("tiny-sd15", "unet"), ("tiny-sd15", "vae"), ("tiny-sd15", "text_encoder")} <= set(rows)
    assert all(r["bytes"] > 0 and r["where"] in (str(manager.device), "RAM") for r in rows.values())
    assert report["ram_cache"][0]["model"] == "base:tiny-sd15"

    manager.unload()
    assert manager.status()["components"] == [] and manager.cache.keys() == []
