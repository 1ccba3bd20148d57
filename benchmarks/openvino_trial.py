"""OpenVINO as a CPU backend for full-size SD 1.5 (random weights), against PyTorch fp32 and bf16, in one run.

    python -m benchmarks.openvino_trial   # ~20 min on 2 cores, +7 the first time (converting)

It needs `pip install openvino` (not one of Easel's requirements: the trial decided against it). optimum-intel (`OVStableDiffusionPipeline`,
what FastSD CPU uses) is not used: its current release requires transformers < 5.6, and the old release that pip
then picks does not find openvino 2026 (it imports the removed `openvino.runtime`). The UNet and the VAE decoder
are therefore converted here with `openvino.convert_model` and run inside the diffusers pipeline in place of the
PyTorch modules; the text encoder stays PyTorch fp32 (it is a small part of an image). The converted models are
kept next to the model folder, so a rerun does not convert again. Run it on an otherwise idle machine: under
load PyTorch's threads lose far more than OpenVINO's (docs/BENCHMARKS.md).

Decision rule: OpenVINO is kept only if it is at least 1.5x faster per image than the best PyTorch path at equal
steps and size; the script prints the verdict under the table.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.compare import PROMPT, baseline, psnr, seconds

SIDE = 512
LATENT = SIDE // 8
KEEP_IF_FASTER = 1.5
# (name shown, INFERENCE_PRECISION_HINT or None for OpenVINO's own choice on this CPU)
OV_VARIANTS = (("OpenVINO", None), ("OpenVINO f32", "f32"))

try:
    import openvino as ov
except ImportError:
    sys.exit("openvino is not installed: pip install openvino")


# --- conversion ----------------------------------------------------------------------------------


class _UNetOutput(torch.nn.Module):
    """The UNet as a plain function of tensors, which is what tracing needs."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states):
        return self.unet(sample, timestep, encoder_hidden_states, return_dict=False)[0]


class _Decoder(torch.nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, latent):
        return self.vae.decode(latent, return_dict=False)[0]


def convert(folder: Path, cache: Path) -> tuple[float, bool]:
    """Convert the UNet and the VAE decoder once; seconds it took (then or on an earlier run) and whether now."""
    record = cache / "conversion.json"
    if record.exists():
        return json.loads(record.read_text())["seconds"], False
    from diffusers import AutoencoderKL, UNet2DConditionModel

    cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet").eval()
    # batch and size left open in the file; each use fixes them before compiling (static shapes run faster)
    model = ov.convert_model(
        _UNetOutput(unet),
        example_input=(torch.randn(2, 4, LATENT, LATENT), torch.tensor(999.0), torch.randn(2, 77, 768)),
        input=[("sample", [-1, 4, -1, -1]), ("timestep", []), ("encoder_hidden_states", [-1, 77, 768])])
    # full fp32 weights on disk: the precision is then chosen at compile time alone
    ov.save_model(model, cache / "unet.xml", compress_to_fp16=False)
    del model, unet
    gc.collect()
    vae = AutoencoderKL.from_pretrained(folder, subfolder="vae").eval()
    model = ov.convert_model(_Decoder(vae), example_input=torch.randn(1, 4, LATENT, LATENT),
                             input=[("latent", [-1, 4, -1, -1])])
    ov.save_model(model, cache / "vae_decoder.xml", compress_to_fp16=False)
    del model, vae
    gc.collect()
    elapsed = time.perf_counter() - started
    record.write_text(json.dumps({"seconds": elapsed}))
    return elapsed, True


def compile_model(core, path: Path, shapes: dict, precision: str | None):
    """A compiled model with static shapes; returns it and the precision OpenVINO runs it in."""
    model = core.read_model(path)
    model.reshape(shapes)
    config = {"INFERENCE_NUM_THREADS": torch.get_num_threads(), "PERFORMANCE_HINT": "LATENCY"}
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision
    compiled = core.compile_model(model, "CPU", config)
    return compiled, compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()


# --- OpenVINO inside the diffusers pipeline ------------------------------------------------------


class OVUNet:
    """Stands in for the pipeline's UNet: same call, same config, an OpenVINO model underneath."""

    def __init__(self, compiled, config):
        self.compiled, self.config = compiled, config

    def __call__(self, sample, timestep, encoder_hidden_states, **unused):
        inputs = {"sample": sample.numpy(), "timestep": np.asarray(timestep, np.float32),
                  "encoder_hidden_states": encoder_hidden_states.numpy()}
        return (torch.from_numpy(self.compiled(inputs)[0].copy()),)


class OVDecoder:
    """Stands in for the pipeline's VAE, which only decodes in text to image."""

    def __init__(self, compiled, config):
        self.compiled, self.config = compiled, config

    def decode(self, latent, return_dict=False, generator=None):
        return (torch.from_numpy(self.compiled({"latent": latent.numpy()})[0].copy()),)


class _Config(dict):
    """The pipeline reads configs as attributes (unet.config.in_channels)."""

    __getattr__ = dict.__getitem__


def ov_pipeline(fp32, unet, decoder):
    """The fp32 pipeline's text encoder, tokenizer and scheduler, with OpenVINO's UNet and decoder."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        vae=OVDecoder(decoder, _Config(fp32.vae.config)), text_encoder=fp32.text_encoder, tokenizer=fp32.tokenizer,
        unet=OVUNet(unet, _Config(fp32.unet.config)), scheduler=fp32.scheduler, safety_checker=None,
        feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def bf16_pipeline(folder: Path):
    """The documented loading, as the baseline, in bfloat16: the fastest plain PyTorch path on this CPU."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(folder, torch_dtype=torch.bfloat16, safety_checker=None,
                                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def euler(pipe):
    from diffusers import EulerDiscreteScheduler

    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    return pipe


# --- measuring -----------------------------------------------------------------------------------


def in_turns(runs: dict, rounds: int) -> dict:
    """Each run once per turn, the order reversed every other turn (A, B, B, A): seconds and last value per run.

    Other work on the machine makes the speed drift over minutes; turns spread that drift over every run.
    """
    times, values, names = {name: [] for name in runs}, {}, list(runs)
    for turn in range(rounds):
        for name in names if turn % 2 == 0 else names[::-1]:
            elapsed, values[name] = seconds(runs[name])
            times[name].append(elapsed)
        print(f"  turn {turn + 1}/{rounds}: " + ", ".join(f"{n} {times[n][-1]:.1f} s" for n in names),
              file=sys.stderr, flush=True)
    return {name: (statistics.median(times[name]), values[name]) for name in names}


def snr(reference: torch.Tensor, other: torch.Tensor) -> float:
    """Signal to error ratio of a tensor, in dB (PSNR needs a value range; a noise prediction has none)."""
    reference, other = reference.double(), other.double()
    return float(10 * torch.log10(reference.pow(2).sum() / (reference - other).pow(2).sum()))


def start_latents(dtype) -> torch.Tensor:
    """The same starting noise for every path: drawn in fp32, then cast (bf16 draws would differ)."""
    return torch.randn(1, 4, LATENT, LATENT, generator=torch.Generator("cpu").manual_seed(1)).to(dtype)


def image_runs(pipes: dict, steps: int, guidance: float) -> dict:
    def run(pipe):
        dtype = torch.bfloat16 if pipe.text_encoder.dtype == torch.bfloat16 else torch.float32
        return lambda: pipe(PROMPT, num_inference_steps=steps, guidance_scale=guidance, height=SIDE, width=SIDE,
                            latents=start_latents(dtype)).images[0]

    return {name: run(pipe) for name, pipe in pipes.items()}


def step_runs(pipes: dict) -> dict:
    """One guided UNet step (batch 2) per path, on the same inputs."""
    sample = torch.randn(2, 4, LATENT, LATENT, generator=torch.Generator("cpu").manual_seed(2))
    text = torch.randn(2, 77, 768, generator=torch.Generator("cpu").manual_seed(3))
    t = torch.tensor(500.0)

    def run(pipe):
        is_bf16 = isinstance(pipe.unet, torch.nn.Module) and pipe.unet.dtype == torch.bfloat16
        dtype = torch.bfloat16 if is_bf16 else torch.float32
        return lambda: pipe.unet(sample.to(dtype), t, text.to(dtype), return_dict=False)[0].float()

    return {name: run(pipe) for name, pipe in pipes.items()}


def decode_runs(pipes: dict) -> dict:
    latent = start_latents(torch.float32)

    def run(pipe):
        dtype = torch.bfloat16 if isinstance(pipe.vae, torch.nn.Module) and pipe.vae.dtype == torch.bfloat16 \
            else torch.float32
        return lambda: pipe.vae.decode(latent.to(dtype), return_dict=False)[0]

    return {name: run(pipe) for name, pipe in pipes.items()}


def encode_seconds(pipe, rounds: int = 3) -> float:
    """Text encoding of a prompt and the empty negative one (CFG), median of a few."""
    return statistics.median(seconds(pipe.encode_prompt, PROMPT, "cpu", 1, True)[0] for _ in range(rounds))


# --- the trial -----------------------------------------------------------------------------------


def load_ov(core, cache: Path, fp32, batch: int) -> tuple[dict, dict]:
    """The OpenVINO pipelines for one batch size; and, per variant, the precision picked and seconds to compile."""
    pipes, info = {}, {}
    for name, hint in OV_VARIANTS:
        started = time.perf_counter()
        unet, precision = compile_model(core, cache / "unet.xml", {"sample": [batch, 4, LATENT, LATENT],
                                                                  "encoder_hidden_states": [batch, 77, 768]}, hint)
        decoder, _ = compile_model(core, cache / "vae_decoder.xml", {"latent": [1, 4, LATENT, LATENT]}, hint)
        info[name] = (precision, time.perf_counter() - started)
        pipes[name] = ov_pipeline(fp32, unet, decoder)
    return pipes, info


def warm_up(runs: dict) -> None:
    """First calls pay one-off costs (OpenVINO prepares its kernels and weights on the first inference)."""
    for run in runs.values():
        run()


def trial(root: Path, rounds: int, step_rounds: int) -> tuple[list[tuple], dict]:
    from benchmarks.full_size import write

    folder = write("sd15", root / "sd15", dtype=torch.float32)
    cache = root / "sd15-openvino"
    converted, now = convert(folder, cache)
    core = ov.Core()
    # compiled blobs are cached too, so a rerun only reads them
    core.set_property({"CACHE_DIR": str(cache / "compiled")})

    fp32 = euler(baseline(folder, device="cpu"))
    torch_pipes = {"PyTorch fp32": fp32, "PyTorch bf16": euler(bf16_pipeline(folder))}

    # 4 steps, no guidance: batch 1 UNet
    ov_pipes, info = load_ov(core, cache, fp32, batch=1)
    pipes = {**torch_pipes, **ov_pipes}
    print("warm-up (one 1-step image each)", file=sys.stderr, flush=True)
    warm_up(image_runs(pipes, 1, 0.0))
    print("4 steps, CFG 0, whole images", file=sys.stderr, flush=True)
    four = in_turns(image_runs(pipes, 4, 0.0), rounds)
    print("VAE decode", file=sys.stderr, flush=True)
    decode = in_turns(decode_runs(pipes), rounds)
    encode = {"PyTorch fp32": encode_seconds(fp32), "PyTorch bf16": encode_seconds(torch_pipes["PyTorch bf16"])}
    del ov_pipes, pipes
    gc.collect()

    # 25 steps, CFG 7: batch 2 UNet, timed per step; a whole image in fp32 would take about 6 minutes
    ov_pipes, info2 = load_ov(core, cache, fp32, batch=2)
    pipes = {**torch_pipes, **ov_pipes}
    print("one guided UNet step (batch 2)", file=sys.stderr, flush=True)
    warm_up(step_runs(pipes))
    step = in_turns(step_runs(pipes), step_rounds)
    del ov_pipes, pipes
    gc.collect()

    names = list(four)
    reference = four["PyTorch fp32"][1]
    # the OpenVINO pipelines encode text with the fp32 pipeline's encoder
    per_image = {n: encode.get(n, encode["PyTorch fp32"]) + 25 * step[n][0] + decode[n][0] for n in names}
    facts = dict(converted=converted, converted_now=now,
                 precision={n: info[n][0] for n in info},
                 compile={n: (info[n][1], info2[n][1]) for n in info})
    rows = [
        (f"4 steps, CFG 0: per image (median of {rounds}, in turns)", "image", {n: four[n][0] for n in names},
         "whole pipeline call: text encoding, 4 UNet steps (batch 1), VAE decode"),
        ("4 steps, CFG 0: PSNR vs the PyTorch fp32 picture", "dB", {n: psnr(four[n][1], reference) for n in names},
         "fidelity; random weights give a noise-like picture, a strict test"),
        (f"25 steps, CFG 7: one UNet step, batch 2 (median of {step_rounds}, in turns)", "s",
         {n: step[n][0] for n in names},
         "UNet output SNR vs fp32: " + ", ".join(
             f"{n} {snr(step['PyTorch fp32'][1], step[n][1]):.1f} dB" for n in names[1:])),
        (f"VAE decode 512x512 (median of {rounds}, in turns)", "s", {n: decode[n][0] for n in names}, ""),
        ("25 steps, CFG 7: per image (computed, not one run)", "image", per_image,
         "text encoding (prompt + negative) + 25 x the step above + the decode above; "
         "OpenVINO's text encoder is PyTorch fp32"),
    ]
    return rows, facts


# --- the table -----------------------------------------------------------------------------------


def machine(facts: dict) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               "unknown CPU")
    flags = next((line.split(":", 1)[1].split() for line in open("/proc/cpuinfo") if line.startswith("flags")), [])
    native = [flag for flag in ("avx512_bf16", "amx_bf16") if flag in flags] or ["no native bf16"]
    import diffusers

    return (f"{cpu}, {len(os.sched_getaffinity(0))} cores ({', '.join(native)}), {torch.get_num_threads()} threads; "
            f"torch {torch.__version__}, diffusers {diffusers.__version__}, openvino {ov.get_version().split('-')[0]}; "
            f"OpenVINO's own choice of precision here: {facts['precision']['OpenVINO']}")


def table(rows: list[tuple], facts: dict) -> tuple[str, list[float]]:
    """The markdown table, and OpenVINO's speed-up over the best PyTorch path in each per-image row.

    A row is (name, kind, value per path, note); kind is "image" (seconds per image), "s" or "dB".
    """
    lines = ["| row | PyTorch fp32 | PyTorch bf16 | OpenVINO | OpenVINO / best PyTorch | note |",
             "|---|---|---|---|---|---|"]
    speedups = []
    for name, kind, values, note in rows:
        def cell(value):
            if kind == "dB":
                return "reference" if value == float("inf") else f"{value:.1f} dB"
            return f"{value:.2f} s"

        ratio = ""
        if kind != "dB":
            best = min(values["PyTorch fp32"], values["PyTorch bf16"])
            ratio = f"{best / values['OpenVINO']:.2f}x the speed"
            if kind == "image":  # the rule is about whole images
                speedups.append(best / values["OpenVINO"])
        f32 = f"OpenVINO with the f32 hint: {cell(values['OpenVINO f32'])}"
        lines.append(f"| {name} | {cell(values['PyTorch fp32'])} | {cell(values['PyTorch bf16'])} | "
                     f"{cell(values['OpenVINO'])} | {ratio} | {f32}" + (f"; {note}" if note else "") + " |")
    first, second = facts["compile"]["OpenVINO"]
    lines.append(f"| OpenVINO first use: conversion, s | | | {facts['converted']:.0f} | | "
                 + ("converted in this run" if facts["converted_now"] else "converted on an earlier run, read back")
                 + f" (UNet + VAE decoder, fp32 IR on disk); compiling batch 1 / batch 2: {first:.0f} / {second:.0f} s "
                 "(default precision, cached on disk for a rerun) |")
    return "\n".join(lines), speedups


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.openvino_trial", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/ovtrial", help="models and their OpenVINO conversion (kept)")
    parser.add_argument("--rounds", type=int, default=2, help="turns of whole images and decodes")
    parser.add_argument("--step-rounds", type=int, default=4, help="turns of single UNet steps")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    with torch.no_grad():  # as the pipeline's own call runs; bare UNet and decoder calls would record gradients
        rows, facts = trial(Path(args.dir), args.rounds, args.step_rounds)
    text, speedups = table(rows, facts)
    print(f"\nMeasured with `python -m benchmarks.openvino_trial` on {machine(facts)}.\n\n{text}\n")
    kept = all(s >= KEEP_IF_FASTER for s in speedups)
    print(f"Verdict: OpenVINO is {'KEPT' if kept else 'NOT kept'}: per image it is "
          + " and ".join(f"{s:.2f}x" for s in speedups)
          + f" the speed of the best PyTorch path (4 and 25 steps); the rule asks for >= {KEEP_IF_FASTER}x.")


if __name__ == "__main__":
    main()
