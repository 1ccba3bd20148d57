"""Easel against plain diffusers on a CUDA GPU, side by side in one run: the GPU rows of the benchmark.

    python -m benchmarks.gpu_compare [--dir /tmp/easel-gpu] [--out table.md]
    python -m benchmarks.gpu_compare --tiny     # the same code on tiny models and the CPU: a dry run

Full-size SD 1.5 and SDXL with random weights (speed does not depend on the weights' values). The
baseline is diffusers as its documentation shows it: `from_pretrained(folder, torch_dtype=float16)
.to("cuda")`. Steps per second come from the difference between a 30-step and a 10-step image, so text
encoding, the VAE decode and writing the picture cancel out, with no device sync added per step; the
two run in turns (baseline, Easel, Easel, baseline) and the table gives medians.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from benchmarks.compare import PROMPT, manager_for, psnr

GIB = 2**30
CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"


def sync() -> None:
    if CUDA:
        torch.cuda.synchronize()


def timed(function, *args, **kwargs):
    sync()
    started = time.perf_counter()
    value = function(*args, **kwargs)
    sync()
    return time.perf_counter() - started, value


def peak_gib() -> float:
    return torch.cuda.max_memory_allocated() / GIB if CUDA else float("nan")


def reset_peak() -> None:
    if CUDA:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


# --- models --------------------------------------------------------------------------------------


def models(root: Path, tiny: bool) -> dict[str, Path]:
    """Folders of sd15, a copy of it (a second base model of the same size) and sdxl."""
    if tiny:
        from pipelines.tiny import write_tiny_models

        write_tiny_models(root / "tiny")
        folders = {"sd15": root / "tiny" / "sd15-tiny", "sdxl": root / "tiny" / "sdxl-tiny"}
    else:
        from benchmarks.full_size import write

        folders = {"sd15": write("sd15", root / "sd15"), "sdxl": write("sdxl", root / "sdxl")}
    if not (root / "sd15-b").exists():
        shutil.copytree(folders["sd15"], root / "sd15-b")
    folders["sd15-b"] = root / "sd15-b"
    lines = ["include_builtin: false", "default: sd15", "models:"]
    lines += [f"  {name}:\n    source: {folder}" for name, folder in folders.items()]
    (root / "models.yaml").write_text("\n".join(lines) + "\n")
    folders["library"] = root / "models.yaml"
    return folders


def baseline(folder: Path, dtype=None):
    from diffusers import DiffusionPipeline, EulerDiscreteScheduler

    dtype = dtype or (torch.float16 if CUDA else torch.float32)
    pipe = DiffusionPipeline.from_pretrained(folder, torch_dtype=dtype, safety_checker=None,
                                             requires_safety_checker=False).to(DEVICE)
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)  # Easel's "Euler"
    pipe.set_progress_bar_config(disable=True)
    return pipe


# --- rows ----------------------------------------------------------------------------------------


def denoise_rows(folders, name: str, side: int, steps: tuple[int, int], means: bool) -> list[tuple]:
    """Steps per second and one image, Easel vs baseline; fidelity against an fp32 run."""
    from pipelines.request import GenerationRequest

    few, many = steps
    pipe = baseline(folders[name])
    manager = manager_for(folders["library"], watermark=False, content_credentials=False)

    def run_baseline(n, pipeline=pipe, **extra):
        return pipeline(PROMPT, num_inference_steps=n, height=side, width=side, guidance_scale=7.0,
                        generator=torch.Generator("cpu").manual_seed(1), **extra).images[0]

    def run_easel(n, engine=manager):
        return engine.generate(GenerationRequest(model=name, prompt=PROMPT, steps=n, seed=1, width=side, height=side,
                                                 guidance_scale=7.0, sampler="Euler")).images[0]

    run_baseline(2)
    run_easel(2)  # loads it
    times = {"baseline": {few: [], many: []}, "easel": {few: [], many: []}}
    pictures = {}
    for turn in range(3):
        order = [("baseline", run_baseline), ("easel", run_easel)]
        for who, run in order if turn % 2 == 0 else order[::-1]:
            for n in (few, many):
                elapsed, pictures[who] = timed(run, n)
                times[who][n].append(elapsed)

    def rate(who):
        return (many - few) / (statistics.median(times[who][many]) - statistics.median(times[who][few]))

    base_rate, easel_rate = rate("baseline"), rate("easel")
    base_image, easel_image = (statistics.median(times[w][many]) for w in ("baseline", "easel"))
    rows = [(f"1. {name} denoise, steps/s ({side}x{side}, CFG 7, fp16; median of 3)", f"{base_rate:.2f}",
             f"{easel_rate:.2f}", f"{easel_rate / base_rate:.2f}x",
             f"one {many}-step image {base_image:.2f} s vs {easel_image:.2f} s")]

    # Fidelity: both fp16 pictures against the same seed in fp32 (latents and decoded picture).
    pipe_fp32 = baseline(folders[name], torch.float32)
    latents32 = run_baseline(many, pipe_fp32, output_type="latent")
    latents16 = run_baseline(many, output_type="latent")
    picture32 = run_baseline(many, pipe_fp32)
    relative = float((latents16.float() - latents32.float()).norm() / latents32.float().norm())
    rows.append((f"1. {name} fidelity vs fp32 ({side}x{side}, {many} steps): PSNR dB", f"{psnr(pictures['baseline'], picture32):.1f}",
                 f"{psnr(pictures['easel'], picture32):.1f}", "",
                 f"final latents' relative error (fp16 vs fp32) {relative:.4f}; Easel vs baseline fp16 PSNR "
                 f"{psnr(pictures['easel'], pictures['baseline']):.1f} dB (random weights turn rounding into "
                 "a different picture over the steps)"))

    if means:
        rows += means_rows(name, side, few, many, run_baseline, pipe, pipe_fp32, folders, run_easel)
    del pipe_fp32
    manager.unload(None)
    del pipe, manager
    reset_peak()
    return rows


def means_rows(name, side, few, many, run_baseline, pipe, pipe_fp32, folders, run_easel) -> list[tuple]:
    """channels_last and fused QKV (on the baseline pipeline) and Easel's --compile, each in turns with plain fp16.

    Each mean is timed against a plain run right before and after it (plain, mean, mean, plain): a GPU's
    clocks still rise minutes into a run, and a plain figure from earlier would flatter what comes later.
    """
    torch.manual_seed(0)
    sample = torch.randn(2, 4, side // 8, side // 8, device=DEVICE)
    text = torch.randn(2, 77, pipe.unet.config.cross_attention_dim, device=DEVICE)

    def one_step(unet):
        with torch.inference_mode():
            return unet(sample.to(unet.dtype), 500, text.to(unet.dtype)).sample.float()

    exact = one_step(pipe_fp32.unet)

    def error(unet):
        return float((one_step(unet) - exact).norm() / exact.norm())

    def rate(run):
        few_time, many_time = timed(run, few)[0], timed(run, many)[0]
        return (many - few) / (many_time - few_time)

    def in_turns(apply, undo, run=run_baseline):
        run(2)  # compiles, where there is something to compile
        plain, mean = [], []
        for turn in range(4):
            with_mean = turn in (1, 2)
            apply() if with_mean else undo()
            (mean if with_mean else plain).append(rate(run))
        undo()
        return statistics.median(plain), statistics.median(mean)

    def channels_last():
        pipe.unet.to(memory_format=torch.channels_last)

    def contiguous():
        pipe.unet.to(memory_format=torch.contiguous_format)

    rows = []
    plain, cl = in_turns(channels_last, contiguous)
    rows.append((f"means: {name} channels_last UNet, steps/s (in turns)", f"{plain:.2f}", f"{cl:.2f}",
                 f"{cl / plain:.2f}x", "on the baseline pipeline"))
    plain_error = error(pipe.unet)
    pipe.fuse_qkv_projections()
    fused_error = error(pipe.unet)
    plain, fused = in_turns(pipe.fuse_qkv_projections, pipe.unfuse_qkv_projections)
    rows.append((f"means: {name} fused QKV projections, steps/s (in turns)", f"{plain:.2f}", f"{fused:.2f}",
                 f"{fused / plain:.2f}x", f"on the baseline pipeline; one UNet step's relative error vs fp32: "
                 f"{plain_error:.1e} unfused, {fused_error:.1e} fused"))
    compiled = manager_for(folders["library"], watermark=False, content_credentials=False, compile=True)
    started = time.perf_counter()
    run_easel(2, compiled)
    first = time.perf_counter() - started
    engines = {"plain": lambda n: run_easel(n), "compiled": lambda n: run_easel(n, compiled)}
    rates = {"plain": [], "compiled": []}
    for who in ("plain", "compiled", "compiled", "plain"):
        rates[who].append(rate(engines[who]))
    plain, fast = statistics.median(rates["plain"]), statistics.median(rates["compiled"])
    rows.append((f"means: {name} Easel --compile (torch.compile UNet) vs Easel, steps/s (in turns)", f"{plain:.2f}",
                 f"{fast:.2f}", f"{fast / plain:.2f}x", f"first run (compiling) {first:.0f} s"))
    compiled.unload(None)
    return rows


def decode_rows(folders, sides: list[int]) -> list[tuple]:
    """VAE decode of one latent, plain (what both do) vs tiled (Easel's out-of-memory fallback)."""
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(folders["sd15"], subfolder="vae",
                                        torch_dtype=torch.float16 if CUDA else torch.float32).to(DEVICE)
    rows = []
    for side in sides:
        latent = torch.randn(1, 4, side // 8, side // 8, device=DEVICE, dtype=vae.dtype)
        figures = {}
        with torch.inference_mode():
            for tiled in (False, True):
                vae.enable_tiling() if tiled else vae.disable_tiling()
                vae.decode(latent)
                reset_peak()
                figures[tiled] = (statistics.median(timed(vae.decode, latent)[0] for _ in range(3)), peak_gib())
        vae.disable_tiling()
        (plain, plain_peak), (tiled, tiled_peak) = figures[False], figures[True]
        rows.append((f"2. VAE decode {side}x{side} fp16: ms (peak GPU memory)", f"{plain * 1e3:.0f} ({plain_peak:.2f} GiB)",
                     f"{plain * 1e3:.0f} ({plain_peak:.2f} GiB); tiled {tiled * 1e3:.0f} ({tiled_peak:.2f} GiB)", "1.00x",
                     "Easel decodes as diffusers does and tiles only after running out of memory"))
    del vae
    reset_peak()
    return rows


def swap_rows(folders) -> list[tuple]:
    """UNet host->device through the engine, pinned and not, vs the bus's pinned bandwidth; two bases alternating."""
    from pipelines.request import GenerationRequest

    rows, unet_gib = [], None
    alternations = {}
    for pin in (True, False):
        manager = manager_for(folders["library"], watermark=False, content_credentials=False, pin_memory=pin)
        request = dict(prompt="a", steps=2, seed=1, width=512, height=512) if CUDA else dict(prompt="a", steps=1, seed=1)
        manager.generate(GenerationRequest(model="sd15", **request))
        one = sum(c.nbytes for c in manager.residency.components.values() if c.owner == "sd15")
        manager.generate(GenerationRequest(model="sd15-b", **request))
        manager.residency.fixed_budget = int(one * 1.2)  # room for one of the two
        totals = [timed(manager.generate, GenerationRequest(model=m, **request))[0] for m in ("sd15", "sd15-b") * 3]
        moves = [m for m in manager.status()["recent_moves"] if m["component"].endswith("/unet")]
        to_gpu = [m["seconds"] for m in moves if m["to"] != "RAM"][-4:]
        to_ram = [m["seconds"] for m in moves if m["to"] == "RAM"][-4:]
        unet_gib = moves[-1]["bytes"] / GIB
        alternations[pin] = (statistics.median(to_gpu), statistics.median(to_ram) if to_ram else float("nan"), totals,
                             manager.status()["evictions"])
        manager.unload(None)
        del manager
        reset_peak()

    nbytes = int(unet_gib * GIB)
    bandwidth = {}
    for pinned in (True, False):
        host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=pinned and CUDA)
        host.to(DEVICE, non_blocking=True)
        bandwidth[pinned] = unet_gib / statistics.median(timed(host.to, DEVICE, non_blocking=True)[0] for _ in range(5))
        del host
    reset_peak()
    (pin_in, pin_out, pin_runs, evictions), (page_in, page_out, page_runs, _) = alternations[True], alternations[False]
    easel_rate, plain_rate = unet_gib / pin_in, unet_gib / page_in
    rows.append((f"7. UNet ({unet_gib:.2f} GiB) host->GPU through the engine, GiB/s",
                 f"ordinary memory {plain_rate:.1f}", f"pinned {easel_rate:.1f}", f"{easel_rate / bandwidth[True] * 100:.0f} % of pinned bandwidth",
                 f"copy of a pinned buffer of that size {bandwidth[True]:.1f} GiB/s, of an ordinary one {bandwidth[False]:.1f} GiB/s"))
    rows.append(("7. UNet GPU->host, s", f"{page_out:.3f}", f"{pin_out:.4f}", "",
                 "Easel points the weights back at their pinned host copies: nothing to copy"))
    rows.append(("7. two base models alternating under a one-model budget, s per 2-step run",
                 ", ".join(f"{t:.2f}" for t in page_runs) + " (ordinary memory)",
                 ", ".join(f"{t:.2f}" for t in pin_runs), f"{statistics.median(page_runs) / statistics.median(pin_runs):.2f}x",
                 f"{evictions} evictions; each run moves the other model out and this one in"))
    return rows


def markdown_row(row: tuple) -> str:
    return "| " + " | ".join(str(x) for x in row) + " |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/easel-gpu")
    parser.add_argument("--out", help="also write the table to this file")
    parser.add_argument("--tiny", action="store_true", help="tiny models, small sizes: check the script itself")
    parser.add_argument("--only", nargs="+", choices=["sd15", "sdxl", "decode", "swap"])
    args = parser.parse_args(argv)
    root = Path(args.dir)
    started = time.perf_counter()
    folders = models(root, args.tiny)
    print(f"models ready in {time.perf_counter() - started:.0f} s", flush=True)
    small = args.tiny
    plan = {
        "swap": lambda: swap_rows(folders),
        "sd15": lambda: denoise_rows(folders, "sd15", 64 if small else 512, (2, 4) if small else (10, 30), means=True),
        "sdxl": lambda: denoise_rows(folders, "sdxl", 64 if small else 1024, (2, 4) if small else (10, 30), means=False),
        "decode": lambda: decode_rows(folders, [64, 128] if small else [512, 1024]),
    }
    rows = []
    for name, measure in plan.items():
        if args.only and name not in args.only:
            continue
        began = time.perf_counter()
        try:
            new = measure()
            for row in new:  # as they come: a run cut short still shows what it measured
                print(markdown_row(row), flush=True)
            rows += new
        except Exception:  # one broken row must not cost the others on a borrowed machine
            traceback.print_exc()
            rows.append((f"{name}: failed", "", "", "", traceback.format_exc(limit=1).splitlines()[-1]))
        print(f"{name} done in {time.perf_counter() - began:.0f} s", flush=True)
    device = torch.cuda.get_device_name() if CUDA else "CPU (dry run)"
    lines = [f"Measured with `python -m benchmarks.gpu_compare` on {device}; torch {torch.__version__}.", "",
             "| row | baseline (diffusers fp16) | Easel | ratio | note |", "|---|---|---|---|---|"]
    lines += [markdown_row(row) for row in rows]
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
