"""The engine's settings: where to compute, how much memory it may use, what it may load."""

from __future__ import annotations

from dataclasses import dataclass, field

from .request import Limits


@dataclass
class EngineSettings:
    device: str = "auto"  # auto, cpu, cuda, cuda:1, mps
    dtype: str = "auto"  # auto (devices.auto_dtype: what the hardware computes fastest), fp32, fp16, bf16
    offload: str = "auto"  # auto, none, model, sequential
    vram_budget: int | None = None  # bytes of weights on the device; None: free memory minus the reserve
    working_reserve: int = 2 * 2**30  # bytes kept free on the device for activations and decoding
    ram_budget: int | None = None  # bytes of models kept in host memory; None: half of the machine's RAM
    allow_pickle: bool = False  # load .ckpt/.bin/.pt checkpoints (they can run code)
    allow_custom_models: bool = True  # accept model references that are not in the library
    preview_every: int = 1  # make a latent preview every N steps (0: never)
    preview_period: float = 0.0  # and at most one per this many seconds (the studio shows one every 0.5 s)
    pin_memory: bool = True  # keep weights that are off a CUDA GPU in pinned host memory: faster swaps
    quantize: str | None = None  # FLUX / SD 3 transformers without a library `quantize:`: fp8 or nf4 (quantization.py)
    decode: str = "full"  # final pictures: "full" (the model's VAE) or "fast" (TAESD, fast_decode.py)
    compile: str = "auto"  # auto (on CUDA), on, off: the denoiser's repeated blocks, compiled in the background
    compile_cache: str | None = None  # torch's on-disk compile caches; None: ~/.cache/easel/compile (compilation.py)
    watermark: bool = True  # hide Easel's invisible mark in every picture (see watermark.py)
    content_credentials: bool = True  # sign a C2PA manifest into every picture (see content_credentials.py)
    credentials_dir: str | None = None  # where the signing key is kept; None: ~/.cache/easel/content-credentials
    signing_key: str | None = None  # an operator's own key (PEM text or file) instead of one made on this machine
    signing_chain: str | None = None  # its certificate chain (PEM text or file): its certificate first
    safety_checker: str | None = None  # a checker (hub id or folder) every picture passes; None: none (--safety)
    limits: Limits = field(default_factory=Limits)
