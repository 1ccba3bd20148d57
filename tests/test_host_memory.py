"""Weights off the GPU wait in pinned host memory: moving them out re-points them and copies nothing.

Pinning needs a CUDA driver, so on a CPU-only machine these tests pin by cloning; the bookkeeping they
check is the same. With EASEL_TEST_DEVICE=cuda the residency tests run the real thing on a GPU.
"""

from __future__ import annotations

import os

import torch

from pipelines import host_memory
from pipelines.host_memory import PinnedWeights
from pipelines.request import GenerationRequest

DEVICE = torch.device(os.environ.get("EASEL_TEST_DEVICE", "cpu"))


class CountingPin:
    def __init__(self):
        self.copies = 0

    def __call__(self, tensor):
        self.copies += 1
        return host_memory.pin(tensor) if DEVICE.type == "cuda" else tensor.detach().clone()


def _module():
    torch.manual_seed(0)
    shared = torch.nn.Linear(4, 4)
    # the same layer twice, as the task views share one UNet: one re-pointing must serve both
    return torch.nn.Sequential(shared, torch.nn.BatchNorm1d(4), shared).eval()


def _pinned(module, pin=None):
    return PinnedWeights(module, pin=pin or CountingPin())


def test_a_round_trip_keeps_every_parameter_object_and_the_output():
    module = _module()
    inputs = torch.randn(3, 4)
    expected = module(inputs)
    parameters = list(module.parameters())
    weights = _pinned(module)

    weights.to_device(module, DEVICE)
    assert all(p.device.type == DEVICE.type for p in module.parameters())
    assert torch.allclose(module(inputs.to(DEVICE)).cpu(), expected)
    weights.to_host(module)

    assert list(module.parameters()) == parameters  # hooks and views that hold them still hold the live ones
    assert torch.equal(module(inputs), expected)


def test_moving_out_points_back_at_the_host_copies_instead_of_copying():
    module = _module()
    pin = CountingPin()
    weights = _pinned(module, pin)
    pinned_once = pin.copies
    host_addresses = {name: t.data_ptr() for name, t in weights.host.items()}

    for _ in range(3):
        weights.to_device(module, DEVICE)
        weights.to_host(module)

    now = {name: t.data_ptr() for name, t in [*module.named_parameters(), *module.named_buffers()]}
    assert now == host_addresses
    assert pin.copies == pinned_once == len(host_addresses)  # the shared layer counted once


def test_a_weight_the_module_gained_on_the_device_is_copied_back_with_the_rest():
    module = _module()
    weights = _pinned(module)
    weights.to_device(module, DEVICE)
    module[1].register_buffer("extra", torch.full((4,), 7.0, device=DEVICE))  # e.g. a fused projection

    weights.to_host(module)

    assert module[1].extra.device.type == "cpu" and torch.equal(module[1].extra, torch.full((4,), 7.0))
    assert "1.extra" in weights.host


def test_the_engine_pins_only_on_a_cuda_gpu_and_can_be_told_not_to(make_manager):
    manager = make_manager()
    manager.generate(GenerationRequest(prompt="a", steps=1, seed=1))
    components = manager.residency.components.values()
    if DEVICE.type == "cuda":
        assert all(c.pinned is not None for c in components)
        assert all(t.is_pinned() for c in components for t in c.pinned.host.values())
    else:
        assert all(c.pinned is None for c in components)  # on a CPU the weights compute where they are

    unpinned = make_manager(pin_memory=False)
    unpinned.generate(GenerationRequest(prompt="a", steps=1, seed=1))
    assert all(c.pinned is None for c in unpinned.residency.components.values())
