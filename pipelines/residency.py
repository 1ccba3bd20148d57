"""Which weights sit on the compute device, under a memory budget in bytes.

Policy, in one paragraph: every component (a UNet, a VAE, a text encoder, a ControlNet, a
preprocessor's network) is registered with its size. Before a run, `place` gets the set the run
needs. If it fits the budget, the least-recently-used components that the run does not need are
moved back to host memory until the needed ones fit, and the needed ones are moved to the device. If
the needed set alone is larger than the budget, everything is moved off the device and the run uses
a frugal mode instead of failing: model offload (one whole model on the device at a time) when the
largest component fits, else sequential offload (layer by layer). `finish` undoes any offload hooks
after the run. The offload mode can also be forced. On a CPU the "device" is host memory itself, so
moves cost nothing, but the same bookkeeping runs, and a budget set by the user is honoured by it.
On a CUDA GPU a component's host copy is pinned the first time it moves (host_memory.py): moving it
in then runs at the bus's full speed, and moving it out costs nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

import torch

from .devices import free_memory, release_cached_memory
from .host_memory import PinnedWeights
from .quantization import format_of

log = logging.getLogger(__name__)

OFFLOAD_MODES = ("auto", "none", "model", "sequential")
GIB = 2**30


@dataclass
class Component:
    key: str  # "<owner>/<role>", e.g. "sd15/unet"
    owner: str  # the model it belongs to
    role: str
    module: torch.nn.Module
    nbytes: int
    on_device: bool = False
    last_used: float = 0.0
    pinned: PinnedWeights | None = None  # its weights' pinned host copies, once it has moved to a GPU
    format: str = ""  # how its weights are stored: "float16", "GGUF Q8_0", "fp8 storage", "NF4" (quantization.py)


def module_bytes(module: torch.nn.Module) -> int:
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


class Residency:
    def __init__(self, device: torch.device, budget: int | None = None, reserve: int = 2 * GIB, mode: str = "auto",
                 pin: bool = True):
        if mode not in OFFLOAD_MODES:
            raise ValueError(f"offload: unknown mode {mode!r}; use one of {', '.join(OFFLOAD_MODES)}")
        self.device = device
        self.fixed_budget = budget
        self.reserve = reserve  # working memory left free for activations and the VAE decode
        self.mode = mode
        self.pin = pin and device.type == "cuda"  # pinned memory speeds up copies to CUDA devices only
        self.components: dict[str, Component] = {}
        self.events: deque[dict] = deque(maxlen=200)  # recent moves, for the status report
        self.evictions = 0
        self._lock = threading.RLock()  # guards the ledger; status reads may come from other threads

    # --- the ledger ------------------------------------------------------------------------------

    def add(self, owner: str, role: str, module: torch.nn.Module) -> str:
        key = f"{owner}/{role}"
        with self._lock:
            on_device = _module_device(module) == self.device and self.device.type != "cpu"
            self.components[key] = Component(key, owner, role, module, module_bytes(module), on_device,
                                             format=format_of(module))
        return key

    def drop_owner(self, owner: str) -> None:
        """Forget a model's components (it is leaving host memory too): take them off the device first."""
        with self._lock:
            for key in [k for k, c in self.components.items() if c.owner == owner]:
                component = self.components.pop(key)
                if component.on_device:
                    self._move(component, to_device=False, why="unloaded")
        release_cached_memory(self.device)

    def keys_of(self, *modules: torch.nn.Module) -> list[str]:
        wanted = {id(m) for m in modules if m is not None}
        return [key for key, c in self.components.items() if id(c.module) in wanted]

    def budget(self) -> int | None:
        """Bytes the components may take on the device: set by the user, or free memory minus a reserve."""
        if self.fixed_budget is not None:
            return self.fixed_budget
        free = free_memory(self.device)
        if free is None:  # the CPU: weights are already where they compute
            return None
        held = sum(c.nbytes for c in self.components.values() if c.on_device)
        return max(0, free + held - self.reserve)

    # --- before and after a run ------------------------------------------------------------------

    def place(self, keys: list[str], force_mode: str | None = None) -> str:
        """Make room for `keys` and move them to the device; return the offload mode the run must use."""
        with self._lock:
            needed = [self.components[k] for k in keys]
            now = time.monotonic()
            for component in needed:
                component.last_used = now
            mode = force_mode or self._choose_mode(needed)
            if mode != "none":
                # Offload hooks move weights themselves: start from an empty device.
                for component in self.components.values():
                    if component.on_device:
                        self._move(component, to_device=False, why=f"making room for {mode} offload")
                release_cached_memory(self.device)
                return mode
            self._evict_until_fits(needed)
            for component in needed:
                if not component.on_device:
                    self._move(component, to_device=True, why="needed")
            return "none"

    def _choose_mode(self, needed: list[Component]) -> str:
        if self.mode != "auto":
            return self.mode
        budget = self.budget()
        if budget is None or sum(c.nbytes for c in needed) <= budget:
            return "none"
        if max(c.nbytes for c in needed) <= budget:
            return "model"
        return "sequential"

    def _evict_until_fits(self, needed: list[Component]) -> None:
        budget = self.budget()
        if budget is None:
            return
        needed_keys = {c.key for c in needed}
        incoming = sum(c.nbytes for c in needed if not c.on_device)
        idle = sorted((c for c in self.components.values() if c.on_device and c.key not in needed_keys),
                      key=lambda c: c.last_used)
        resident = sum(c.nbytes for c in self.components.values() if c.on_device)
        evicted = False
        for component in idle:
            if resident + incoming <= budget:
                break
            self._move(component, to_device=False, why="evicted (least recently used)")
            resident -= component.nbytes
            self.evictions += 1
            evicted = True
        if evicted:
            # Only then: a garbage collection and an emptied allocator cache cost a GPU run tenths of a
            # second (every activation allocated afresh), for nothing when no weights left.
            release_cached_memory(self.device)

    def finish(self, pipeline, mode: str) -> None:
        """After a run in an offload mode: remove the hooks and leave every weight in host memory."""
        if mode == "none":
            return
        remove_offload(pipeline)
        with self._lock:
            for component in self.components.values():
                if component.pinned is not None:
                    # also drops the ordinary host copies that offload hooks made when moving weights out
                    component.pinned.to_host(component.module)
                elif _module_device(component.module) != torch.device("cpu"):
                    component.module.to("cpu")
                component.on_device = False
        release_cached_memory(self.device)

    def offload_all(self) -> None:
        """Move everything off the device (after an out-of-memory error, or when asked to unload)."""
        with self._lock:
            for component in self.components.values():
                if component.on_device:
                    self._move(component, to_device=False, why="freeing memory")
        release_cached_memory(self.device)

    def _move(self, component: Component, to_device: bool, why: str) -> None:
        target = self.device if to_device else torch.device("cpu")
        started = time.perf_counter()
        if to_device and self.pin and component.pinned is None:
            component.pinned = PinnedWeights.try_pin(component.module)
            self.pin = component.pinned is not None  # the host pins no more: do not try again on every move
        pinned_at = time.perf_counter()
        if component.pinned is None:
            component.module.to(target)
        elif to_device:
            component.pinned.to_device(component.module, target)
            torch.cuda.synchronize(target)  # the copies are asynchronous: time them whole
        else:
            component.pinned.to_host(component.module)
        component.on_device = to_device
        self.events.append({
            "time": time.time(), "component": component.key, "to": str(target) if to_device else "RAM",
            "bytes": component.nbytes, "seconds": round(time.perf_counter() - pinned_at, 4), "why": why,
            "pinning_seconds": round(pinned_at - started, 4), "pinned": component.pinned is not None,
        })

    # --- reporting -------------------------------------------------------------------------------

    def report(self) -> dict:
        with self._lock:
            rows = [
                {"model": c.owner, "component": c.role, "where": str(self.device) if c.on_device else "RAM",
                 "bytes": c.nbytes, "format": c.format}
                for c in sorted(self.components.values(), key=lambda c: c.key)
            ]
            return {
                "device": str(self.device),
                "budget_bytes": self.budget(),
                "on_device_bytes": sum(c.nbytes for c in self.components.values() if c.on_device),
                "in_ram_bytes": sum(c.nbytes for c in self.components.values() if not c.on_device),
                "offload": self.mode,
                "evictions": self.evictions,
                "components": rows,
                "recent_moves": list(self.events)[-20:],
            }


def _module_device(module: torch.nn.Module) -> torch.device:
    for tensor in module.parameters():
        return tensor.device
    return torch.device("cpu")


# --- offload hooks (diffusers' own) ---------------------------------------------------------------


def apply_offload(pipeline, mode: str, device: torch.device) -> None:
    if mode == "model":
        pipeline.enable_model_cpu_offload(device=device)
    elif mode == "sequential":
        # diffusers' group offloading at leaf level moves one layer at a time, like accelerate's sequential
        # offload, and works with this torch where accelerate's meta-device path does not.
        pipeline.enable_group_offload(onload_device=device, offload_device=torch.device("cpu"), offload_type="leaf_level")


# diffusers' layerwise-casting hooks (fp8 storage, quantization.py) and peft's companion to them
_STORAGE_HOOKS = ("layerwise_casting", "peft_autocast_disable")


def remove_offload(pipeline) -> None:
    from diffusers.hooks import HookRegistry

    pipeline.remove_all_hooks()  # accelerate's hooks (model offload)
    for component in pipeline.components.values():
        if isinstance(component, torch.nn.Module):
            for submodule in component.modules():
                registry = getattr(submodule, "_diffusers_hook", None)
                if isinstance(registry, HookRegistry):
                    for name in list(registry.hooks):
                        if name not in _STORAGE_HOOKS:  # fp8 storage belongs to the model, not to this run
                            registry.remove_hook(name, recurse=False)
