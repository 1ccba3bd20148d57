"""Which device and number format to compute with, and what memory it has free."""

from __future__ import annotations

import gc

import torch

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(preference: str = "auto") -> torch.device:
    """`auto` takes CUDA, then Apple's MPS, then the CPU; any torch device name can be forced."""
    if preference != "auto":
        try:
            device = torch.device(preference)
        except RuntimeError:
            raise ValueError(f"device: unknown device {preference!r}; use auto, cpu, cuda, cuda:1 or mps") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device: CUDA was asked for but no CUDA GPU is available")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError("device: MPS was asked for but is not available on this machine")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(device: torch.device, preference: str = "auto") -> torch.dtype:
    """Half precision on GPUs, where it is fast and holds fidelity; full precision on the CPU."""
    if preference != "auto":
        if preference not in DTYPES:
            raise ValueError(f"dtype: unknown number format {preference!r}; use auto, {', '.join(DTYPES)}")
        return DTYPES[preference]
    if device.type in ("cuda", "mps"):
        return torch.float16
    return torch.float32


def free_memory(device: torch.device) -> int | None:
    """Bytes the device can still give out, or None where the device has no separate memory (the CPU)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    if device.type == "mps":
        return torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory()
    return None


def release_cached_memory(device: torch.device) -> None:
    """Give the allocator's cached blocks back, after unloading or an out-of-memory error."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower()
    )
