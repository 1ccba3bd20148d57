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
    """The number format to compute in: `auto` takes what the hardware does fastest without losing the picture."""
    if preference == "auto":
        return DTYPES[auto_dtype(device)[0]]
    if preference not in DTYPES:
        raise ValueError(f"dtype: unknown number format {preference!r}; use auto, {', '.join(DTYPES)}")
    return DTYPES[preference]


def auto_dtype(device: torch.device) -> tuple[str, str]:
    """(format, why) for `--dtype auto`, decided from what torch reports about this machine."""
    if device.type == "cuda":
        major, _minor = torch.cuda.get_device_capability(device)
        if major >= 8:  # Ampere and later: bf16 runs on the tensor cores as fast as fp16 and cannot overflow, so
            # the SDXL VAE needs no fp32 upcast and FLUX / SD 3 (trained in bf16) keep their pictures
            return "bf16", f"this GPU (compute capability {major}.x) computes bf16 at fp16's speed"
        return "fp16", f"this GPU (compute capability {major}.x) has no fast bf16"
    if device.type == "mps":
        return "fp16", "Apple GPUs compute fp16 fastest"
    if device.type == "cpu":
        native = cpu_bf16_instructions()
        if native:  # measured on a full-size SD 1.5 UNet: 1.75x a step, 1.6x the VAE decode (docs/BENCHMARKS.md)
            return "bf16", f"this CPU computes bf16 natively ({native})"
        return "fp32", "this CPU has no native bf16 (no AVX-512 BF16 or AMX), where bf16 runs many times slower"
    return "fp32", f"no faster format is known for {device.type}"


def cpu_bf16_instructions() -> str | None:
    """The CPU's native bf16 instructions, or None. Not oneDNN's "bf16 supported", which is true on any AVX-512
    CPU and then emulates bf16, slower than fp32; these are the checks torch's own CPU kernels dispatch on."""
    if torch.cpu._is_amx_tile_supported():
        return "AMX"
    if torch.cpu._is_avx512_bf16_supported():
        return "AVX-512 BF16"
    return None


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
