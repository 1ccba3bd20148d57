"""Easel's default on this CPU against plain diffusers' default, per picture, side by side in one run.

    python -m benchmarks --only speed --write      # 512x512: about 25 minutes on 2 CPU cores
    python -m benchmarks --only cache --write      # the feature cache against the same engine uncached: 8 minutes

Full-size SD 1.5 with random weights (and TAESD's full-size architecture, random too: speed does not depend on
the weights' values), same seed, Euler, steps and size. The baseline is `StableDiffusionPipeline.from_pretrained`
with its defaults (fp32 on a CPU). Easel runs as a user starts it: `--dtype auto`, which picks bf16 where the CPU
computes it natively (pipelines/devices.py), and the options a user can turn on: `--decode fast` and the feature
cache. "CPU without native bf16" is the fp32 path `auto` takes there, measured on this CPU. Fidelity: PSNR of
each picture against the baseline's fp32 picture (the watermark off, so that it measures the computation).
"""

from __future__ import annotations

import gc
from pathlib import Path

import torch
from diffusers import EulerDiscreteScheduler

from benchmarks.compare import PROMPT, baseline, manager_for, psnr, seconds


def write_fast_decoder(root: Path) -> Path:
    """TAESD's published architecture (diffusers' AutoencoderTiny defaults), random weights."""
    from diffusers import AutoencoderTiny

    folder = root / "taesd"
    if not (folder / "config.json").exists():
        torch.manual_seed(0)
        AutoencoderTiny().save_pretrained(folder)
    (root / "speed.yaml").write_text("default: sd15\ninclude_builtin: false\nmodels:\n  sd15:\n    source: sd15\n"
                                     "fast_decoders:\n  sd1: taesd\n")
    return root / "speed.yaml"


def baseline_picture(root: Path, side: int, steps: int, guidance: float):
    """(seconds, picture) of plain diffusers with its defaults, after a warm-up step, as Easel's below."""
    pipe = baseline(root / "sd15")
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)  # Easel's "Euler": the same steps
    pipe(PROMPT, num_inference_steps=1, height=side, width=side)
    measured, output = seconds(pipe, PROMPT, num_inference_steps=steps, height=side, width=side,
                               guidance_scale=guidance, generator=torch.Generator("cpu").manual_seed(1))
    del pipe
    gc.collect()
    return measured, output.images[0]


def cache_rows(root: Path, side: int, steps: int = 25) -> list[tuple]:
    """The feature cache against the same engine uncached: speed-up, and the deviation from the uncached picture."""
    from pipelines.request import GenerationRequest

    manager = manager_for(write_fast_decoder(root), watermark=False, content_credentials=False)
    request = dict(prompt=PROMPT, steps=steps, seed=1, width=side, height=side, guidance_scale=7.0, sampler="Euler")
    manager.generate(GenerationRequest(**{**request, "steps": 1}))
    plain_seconds, plain = seconds(manager.generate, GenerationRequest(**request))
    rows = []
    for interval in (3, 2):
        cached_seconds, cached = seconds(manager.generate, GenerationRequest(**request, feature_cache=interval))
        rows.append((f"9. feature cache {interval}, {steps} steps, CFG 7, {side}x{side}: s per picture",
                     f"Easel uncached {plain_seconds:.1f}", f"{cached_seconds:.1f}",
                     f"{plain_seconds / cached_seconds:.2f}x",
                     f"PSNR vs the uncached picture {psnr(cached.images[0], plain.images[0]):.1f} dB "
                     f"({manager.dtype_name}); denoise {plain.timings['denoise']:.0f} s -> "
                     f"{cached.timings['denoise']:.0f} s"))
    manager.unload(None)
    return rows


def speed_rows(root: Path, side: int, runs: tuple[int, ...] = (4, 25)) -> list[tuple]:
    from pipelines.devices import auto_dtype
    from pipelines.request import GenerationRequest

    library_file = write_fast_decoder(root)
    chosen, why = auto_dtype(torch.device("cpu"))
    rows = []
    for steps, guidance, means in ((4, 0.0, [("default", {}, {}), ("--decode fast", {}, {"decode": "fast"}),
                                             ("no native bf16: fp32, --decode fast", {"dtype": "fp32"},
                                              {"decode": "fast"})]),
                                   (25, 7.0, [("default", {}, {}), ("feature cache 3", {}, {"feature_cache": 3})])):
        if steps not in runs:
            continue
        base_seconds, base_picture = baseline_picture(root, side, steps, guidance)
        request = dict(prompt=PROMPT, steps=steps, seed=1, width=side, height=side, guidance_scale=guidance,
                       sampler="Euler")
        managers = {}
        for label, settings, fields in means:
            key = tuple(sorted(settings.items()))
            if key not in managers:
                managers[key] = manager_for(library_file, watermark=False, content_credentials=False, **settings)
                managers[key].generate(GenerationRequest(prompt=PROMPT, steps=1, seed=1, width=side, height=side))
            manager = managers[key]
            easel_seconds, result = seconds(manager.generate, GenerationRequest(**request, **fields))
            dtype = manager.dtype_name
            rows.append((f"9. {steps} steps{', CFG 7' if guidance else ', no guidance'}, {side}x{side}, s per "
                         f"picture: Easel {label}", f"{base_seconds:.1f}", f"{easel_seconds:.1f} ({dtype})",
                         f"{base_seconds / easel_seconds:.2f}x",
                         f"PSNR vs the baseline's fp32 picture {psnr(result.images[0], base_picture):.1f} dB; "
                         f"decode {result.timings['decode']:.1f} s, denoise {result.timings['denoise']:.1f} s"))
        for manager in managers.values():
            manager.unload(None)
        managers.clear()
        gc.collect()
    rows.append(("9. --dtype auto on this CPU", "", chosen, "", why))
    return rows
