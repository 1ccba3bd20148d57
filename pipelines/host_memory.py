"""A component's weights kept in page-locked (pinned) host memory while it is off the GPU.

Why: a copy from pinned memory goes at the bus's full speed, straight to the GPU, where a copy from
ordinary (pageable) memory is staged through a driver buffer at a fraction of it. And no copy back is
needed: inference never writes a weight, so moving a component off the device only points its tensors
back at the pinned copies, which costs nothing, instead of copying gigabytes back over the bus.

The pinned copies replace the ordinary ones (the host holds each weight once, as before). Parameters
keep their identity (`param.data` is re-pointed), so hooks, views shared between tasks and compiled
graphs that hold them keep working.
"""

from __future__ import annotations

import logging
from typing import Callable

import torch

log = logging.getLogger(__name__)


def pin(tensor: torch.Tensor) -> torch.Tensor:
    """A pinned host copy (the ordinary memory is freed once nothing points at it)."""
    return tensor.detach().to("cpu").pin_memory()


class PinnedWeights:
    def __init__(self, module: torch.nn.Module, pin: Callable[[torch.Tensor], torch.Tensor] = pin):
        self._pin = pin
        self.host = {name: pin(tensor) for name, tensor in _named_tensors(module)}
        _point(module, self.host)

    @classmethod
    def try_pin(cls, module: torch.nn.Module) -> PinnedWeights | None:
        """Pinned copies of the module's weights, or None where the host cannot pin that much."""
        try:
            return cls(module)
        except RuntimeError as error:  # page-locked memory is a limited resource on some hosts
            log.warning("could not pin %s in host memory (%s); it moves from ordinary memory",
                        type(module).__name__, error)
            return None

    def to_device(self, module: torch.nn.Module, device: torch.device) -> None:
        """Copy every weight to the device; the copies are queued on the current stream without waiting."""
        _point(module, {name: host.to(device, non_blocking=True) for name, host in self.host.items()})

    def to_host(self, module: torch.nn.Module) -> None:
        """Point the module back at its pinned copies; a tensor the module gained since is copied over."""
        tensors = {}
        for name, tensor in _named_tensors(module):
            host = self.host.get(name)
            if host is None or host.shape != tensor.shape or host.dtype != tensor.dtype:
                host = self.host[name] = self._pin(tensor)
            tensors[name] = host
        _point(module, tensors)


def _named_tensors(module: torch.nn.Module):
    yield from module.named_parameters()
    yield from module.named_buffers()


def _point(module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    for name, tensor in tensors.items():
        owner_name, _, attribute = name.rpartition(".")
        owner = module.get_submodule(owner_name)
        if attribute in owner._parameters:
            owner._parameters[attribute].data = tensor
        else:
            owner._buffers[attribute] = tensor
