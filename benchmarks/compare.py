"""Easel against plain diffusers, side by side in one run, on full-size SD 1.5 with random weights.

    python -m benchmarks --quick          # 256x256, 3 steps: a few minutes on 2 CPU cores
    python -m benchmarks                  # 512x512, 4 steps
    python -m benchmarks --quick --write  # also write docs/BENCHMARKS.md
    python -m benchmarks --only denoise decode --write  # 512x512 rows, added under that table

Speed does not depend on the weights' values, so random weights in the published architectures stand in
for the real models. The baseline is diffusers as its documentation shows it: `StableDiffusionPipeline.
from_pretrained(folder)` with its defaults (fp32 on the CPU, fp16 on CUDA), one pipeline class per task.
Every row is measured in this run, on this machine; the table gives ratios next to the absolute times.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import psutil
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "a photograph of an astronaut riding a horse"


# --- models --------------------------------------------------------------------------------------


def write_models(root: Path, dtype: torch.dtype) -> Path:
    """Full-size SD 1.5 and a full-size canny ControlNet (random weights), and a library naming them."""
    from diffusers import ControlNetModel, UNet2DConditionModel

    from benchmarks.full_size import write

    write("sd15", root / "sd15", dtype=dtype)
    if not (root / "controlnet-canny" / "config.json").exists():
        torch.manual_seed(0)
        unet = UNet2DConditionModel.from_pretrained(root / "sd15", subfolder="unet")
        ControlNetModel.from_unet(unet).to(dtype).save_pretrained(root / "controlnet-canny")
    (root / "models.yaml").write_text(
        "default: sd15\ninclude_builtin: false\nmodels:\n  sd15:\n    source: sd15\n"
        "controlnets:\n  sd1:\n    canny: controlnet-canny\n")
    return root / "models.yaml"


def manager_for(library_file: Path, **settings):
    from pipelines.catalog import Library
    from pipelines.manager import PipelineManager
    from pipelines.engine_settings import EngineSettings

    settings.setdefault("device", "cuda" if torch.cuda.is_available() else "cpu")
    settings.setdefault("preview_every", 0)  # the baseline makes no previews either
    return PipelineManager(Library.from_file(library_file), EngineSettings(**settings))


def baseline(folder: Path, task: str = "txt2img", device: str | None = None):
    """diffusers the way its documentation loads a model for one task."""
    from diffusers import (StableDiffusionControlNetPipeline, StableDiffusionImg2ImgPipeline,
                           StableDiffusionInpaintPipeline, StableDiffusionPipeline)

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.float16 if device == "cuda" else torch.float32
    extra = {}
    if task == "controlnet":
        from diffusers import ControlNetModel

        extra["controlnet"] = ControlNetModel.from_pretrained(folder.parent / "controlnet-canny", torch_dtype=dtype)
    cls = {"txt2img": StableDiffusionPipeline, "img2img": StableDiffusionImg2ImgPipeline,
           "inpaint": StableDiffusionInpaintPipeline, "controlnet": StableDiffusionControlNetPipeline}[task]
    pipeline = cls.from_pretrained(folder, torch_dtype=dtype, safety_checker=None, requires_safety_checker=False,
                                   **extra)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(device)


# --- measuring -----------------------------------------------------------------------------------


class PeakRSS:
    """The process's largest resident memory while the block runs (sampled every 10 ms)."""

    def __enter__(self):
        self.process, self.peak, self.running = psutil.Process(), 0, True
        self.start = self.process.memory_info().rss
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.01)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()

    @property
    def added(self) -> float:
        return (self.peak - self.start) / 2**30


def psnr(a: Image.Image, b: Image.Image) -> float:
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mse = np.mean((x - y) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def seconds(function, *args, **kwargs):
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - started, value


# --- rows ----------------------------------------------------------------------------------------


def denoise_rows(library_file: Path, side: int, steps: int, rounds: int = 2) -> list[tuple]:
    """Seconds per step and per image, Easel vs baseline, same seed, sampler, steps and size; fidelity.

    Both are loaded side by side and run in turns (baseline, Easel, Easel, baseline, ...): on a shared
    machine the speed drifts by tens of percent over minutes, and turns spread that drift over both.
    """
    from diffusers import EulerDiscreteScheduler

    from pipelines.request import GenerationRequest

    pipe = baseline(library_file.parent / "sd15")
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)  # Easel's "Euler": same picture
    manager = manager_for(library_file, watermark=False)  # the engine's numbers; the mark's cost is shown apart
    request = GenerationRequest(prompt=PROMPT, steps=steps, seed=1, width=side, height=side, guidance_scale=7.0,
                                sampler="Euler")
    pipe(PROMPT, num_inference_steps=1, height=side, width=side)  # warm-up
    manager.generate(GenerationRequest(prompt=PROMPT, steps=1, seed=1, width=side, height=side))

    def run_baseline(step_ends):
        return pipe(PROMPT, num_inference_steps=steps, height=side, width=side, guidance_scale=7.0,
                    generator=torch.Generator("cpu").manual_seed(1),
                    callback_on_step_end=lambda p, i, t, kwargs: (step_ends.append(time.perf_counter()), kwargs)[1]
                    ).images[0]

    def run_easel(step_ends):
        return manager.generate(request, on_step=lambda info: step_ends.append(time.perf_counter())).images[0]

    # per step: the time between step ends (the first step, which follows text encoding, left out)
    steps_of, totals, pictures = {"baseline": [], "easel": []}, {"baseline": [], "easel": []}, {}
    for turn in range(rounds):
        order = (("baseline", run_baseline), ("easel", run_easel))
        for name, run in order if turn % 2 == 0 else order[::-1]:
            step_ends: list[float] = []
            total, pictures[name] = seconds(run, step_ends)
            steps_of[name] += list(np.diff(step_ends))
            totals[name].append(total)
    base_step, easel_step = (statistics.median(steps_of[n]) for n in ("baseline", "easel"))
    base_total, easel_total = (statistics.median(totals[n]) for n in ("baseline", "easel"))
    fidelity = psnr(pictures["easel"], pictures["baseline"])
    from pipelines.watermark import mark

    marked = psnr(pictures["easel"], mark(pictures["easel"]))
    manager.unload(None)
    samples = len(steps_of["easel"])
    return [
        (f"1. denoise, s per step ({side}x{side}, CFG 7; median of {samples})", f"{base_step:.2f}", f"{easel_step:.2f}",
         f"{base_step / easel_step:.2f}x", f"PSNR vs baseline image {fidelity:.1f} dB with the watermark off; "
         f"the watermark alone costs {marked:.1f} dB on this noise-like picture (38 dB on photos: docs/WATERMARK.md)"),
        (f"1. one image, {steps} steps, s (median of {rounds})", f"{base_total:.2f}", f"{easel_total:.2f}",
         f"{base_total / easel_total:.2f}x", "includes text encoding and VAE decode"),
    ]


def sdxl_rows(root: Path, side: int, steps: int) -> list[tuple]:
    """Full-size SDXL: the baseline, then Easel (one after the other: both at once would not fit in 24 GiB)."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

    from benchmarks.full_size import write
    from pipelines.request import GenerationRequest

    folder = write("sdxl", root / "sdxl", dtype=torch.float16)  # half the disk; loaded in fp32 on the CPU
    (root / "sdxl.yaml").write_text("default: sdxl\ninclude_builtin: false\nmodels:\n  sdxl:\n    source: sdxl\n")
    dtype = torch.float16 if torch.cuda.is_available() else torch.float32
    device = "cuda" if torch.cuda.is_available() else "cpu"
    pipe = StableDiffusionXLPipeline.from_pretrained(folder, torch_dtype=dtype).to(device)
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    base_ends: list[float] = []
    base_total, output = seconds(pipe, PROMPT, num_inference_steps=steps, height=side, width=side, guidance_scale=7.0,
                                 generator=torch.Generator("cpu").manual_seed(1),
                                 callback_on_step_end=lambda p, i, t, kwargs: (base_ends.append(time.perf_counter()), kwargs)[1])
    base_picture = output.images[0]
    del pipe, output
    manager = manager_for(root / "sdxl.yaml", watermark=False)
    request = GenerationRequest(prompt=PROMPT, steps=steps, seed=1, width=side, height=side, guidance_scale=7.0,
                                sampler="Euler")
    manager.generate(GenerationRequest(prompt=PROMPT, steps=1, seed=1, width=side, height=side))  # loads it
    easel_ends: list[float] = []
    easel_total, result = seconds(manager.generate, request, on_step=lambda info: easel_ends.append(time.perf_counter()))
    manager.unload(None)
    base_step, easel_step = statistics.median(np.diff(base_ends)), statistics.median(np.diff(easel_ends))
    return [(f"1. SDXL denoise, s per step ({side}x{side}, CFG 7; one run each)", f"{base_step:.2f}",
             f"{easel_step:.2f}", f"{base_step / easel_step:.2f}x",
             f"one image {base_total:.1f} s vs {easel_total:.1f} s (the baseline's includes its first-run warm-up); "
             f"PSNR vs baseline {psnr(result.images[0], base_picture):.1f} dB (watermark off)")]


def decode_rows(library_file: Path, sides: list[int]) -> list[tuple]:
    """VAE decode of one latent: the baseline's plain decode vs Easel's (tiling above its threshold)."""
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(library_file.parent / "sd15", subfolder="vae")
    rows = []
    for side in sides:
        latent = torch.randn(1, 4, side // 8, side // 8)
        with torch.inference_mode():
            vae.disable_tiling()
            with PeakRSS() as plain_memory:
                plain, _ = seconds(vae.decode, latent)
            vae.enable_tiling()
            with PeakRSS() as tiled_memory:
                tiled, _ = seconds(vae.decode, latent)
            vae.disable_tiling()
        rows.append((f"2. VAE decode {side}x{side}: s (peak added RSS)", f"{plain:.2f} ({plain_memory.added:.2f} GiB)",
                     f"{tiled:.2f} ({tiled_memory.added:.2f} GiB) tiled", f"{plain / tiled:.2f}x",
                     "Easel tiles only after running out of memory; tiled figures shown for the trade"))
    return rows


def switch_rows(library_file: Path, side: int) -> list[tuple]:
    """Text to image -> image to image -> inpaint -> ControlNet -> text to image on one base model."""
    from pipelines.request import ControlUnit, GenerationRequest

    photo = Image.new("RGB", (side, side), "gray")
    mask = Image.new("L", (side, side), 0)
    mask.paste(255, (side // 4, side // 4, side * 3 // 4, side * 3 // 4))
    requests = [
        GenerationRequest(task="txt2img", prompt=PROMPT, steps=1, seed=1, width=side, height=side),
        GenerationRequest(task="img2img", prompt=PROMPT, steps=1, seed=1, image=photo, strength=1.0),
        GenerationRequest(task="inpaint", prompt=PROMPT, steps=1, seed=1, image=photo, mask=mask, strength=1.0),
        GenerationRequest(task="controlnet", prompt=PROMPT, steps=1, seed=1, width=side, height=side,
                          control_units=[ControlUnit("canny", image=photo)]),
        GenerationRequest(task="txt2img", prompt=PROMPT, steps=1, seed=1, width=side, height=side),
    ]
    manager = manager_for(library_file)
    manager.generate(requests[0])
    manager.generate(requests[3])  # the ControlNet's own weights are loaded once, outside the switch cost
    switches = [manager.generate(r).timings["load"] for r in requests[1:]]
    manager.unload(None)
    naive = [seconds(baseline, library_file.parent / "sd15", task)[0]
             for task in ("img2img", "inpaint", "controlnet", "txt2img")]
    easel, plain = float(np.mean(switches)), float(np.mean(naive))
    return [("3. task switch, mean of 4, s", f"{plain:.2f}", f"{easel * 1000:.1f} ms", f"{plain / max(easel, 1e-6):.0f}x",
             "baseline: from_pretrained per task; Easel: views over the same weights")]


def rss_probe(library_file: Path, side: int, tasks: list[str], naive: bool) -> float:
    """Resident memory (GiB) of a fresh process after running the tasks (run as a child process)."""
    command = [sys.executable, "-m", "benchmarks.compare", "--probe", str(library_file), str(side), ",".join(tasks)]
    if naive:
        command.append("--naive")
    output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return float(output.strip().splitlines()[-1])


def probe(library_file: str, side: str, tasks: str, naive: bool) -> None:
    from pipelines.request import ControlUnit, GenerationRequest

    side_, folder = int(side), Path(library_file).parent / "sd15"
    photo = Image.new("RGB", (side_, side_), "gray")
    mask = Image.new("L", (side_, side_), 255)
    kept = []
    if naive:  # a pipeline per task, as a script written from the docs keeps them, each used once
        for task in tasks.split(","):
            pipe = baseline(folder, task)
            arguments = {"image": photo, "strength": 1.0} if task == "img2img" else {"height": side_, "width": side_}
            pipe(PROMPT, num_inference_steps=1, **arguments)
            kept.append(pipe)
    else:
        manager = manager_for(Path(library_file))
        for task in tasks.split(","):
            units = [ControlUnit("canny", image=photo)] if task == "controlnet" else []
            manager.generate(GenerationRequest(task=task, prompt=PROMPT, steps=1, seed=1, width=side_, height=side_,
                                               image=photo if task in ("img2img", "inpaint") else None,
                                               mask=mask if task == "inpaint" else None, control_units=units,
                                               strength=1.0))
    print(psutil.Process().memory_info().rss / 2**30)


def memory_rows(library_file: Path, side: int) -> list[tuple]:
    four = ["txt2img", "img2img", "inpaint", "controlnet"]
    easel_one = rss_probe(library_file, side, ["txt2img"], naive=False)
    easel_four = rss_probe(library_file, side, four, naive=False)
    # Four full pipelines in fp32 would need about 17 GiB; two show the trend without risking this machine.
    naive_two = rss_probe(library_file, side, ["txt2img", "img2img"], naive=True)
    controlnet = sum(f.stat().st_size for f in (library_file.parent / "controlnet-canny").glob("*.safetensors"))
    controlnet /= 2**30
    return [("4. RSS after one task / after all four, GiB", f"after two pipelines, each used once: {naive_two:.2f}",
             f"{easel_one:.2f} / {easel_four:.2f}", f"{easel_four / (easel_one + controlnet):.2f}x of one + ControlNet",
             f"the four include a ControlNet ({controlnet:.2f} GiB of weights)")]


def wait_for(url: str, timeout: float = 300) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            urllib.request.urlopen(url, timeout=2)
            return time.perf_counter() - started
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def cold_start_row(env: dict, rounds: int = 3) -> tuple:
    """The page answering after `python app.py --demo` (demo models already on disk) vs a hello-world Gradio
    app, alternating the two for a few rounds (medians), and a first image asked for as soon as the page is up."""
    from gradio_client import Client

    from tests.app_server import free_port

    hello = "import gradio as gr, sys\ngr.Interface(lambda x: x, 'text', 'text').launch(server_port=int(sys.argv[1]))\n"
    commands = {"hello": [sys.executable, "-c", hello],
                "easel": [sys.executable, "app.py", "--demo", "--outputs", "off", "--port"]}
    starts, firsts = {"hello": [], "easel": []}, []
    for _ in range(rounds):
        for name, command in commands.items():
            port = free_port()
            started = time.perf_counter()
            process = subprocess.Popen(command + [str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            try:
                starts[name].append(wait_for(f"http://127.0.0.1:{port}/"))
                if name == "easel":
                    client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
                    client.predict(prompt="first", steps=4, api_name="/txt2img")
                    firsts.append(time.perf_counter() - started)
            finally:
                process.terminate()
                process.wait()
    hello_s, easel_s = statistics.median(starts["hello"]), statistics.median(starts["easel"])
    return ("6. cold start: page answers, s (median of 3)", f"hello-world Gradio {hello_s:.2f}", f"{easel_s:.2f}",
            f"{easel_s / hello_s:.2f}x of hello-world",
            f"first image (tiny model, 4 steps) asked for at once: {statistics.median(firsts):.2f} s after launch")


def app_rows(library_file: Path, side: int, tiny_dir: Path) -> list[tuple]:
    """App overhead (one generation through the running app vs the engine called directly) and cold start."""
    from gradio_client import Client

    from pipelines.request import GenerationRequest
    from tests.app_server import free_port

    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", EASEL_DEMO_DIR=str(tiny_dir))
    rows = [cold_start_row(env)]

    # App overhead on the full-size model: the app (its own process) and the engine called here, in turns,
    # so that the machine's drift over minutes falls on both alike.
    port = free_port()
    process = subprocess.Popen([sys.executable, "app.py", "--models", str(library_file), "--outputs", "off",
                                "--port", str(port), "--device", "cpu"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manager = manager_for(library_file, device="cpu")
    request = GenerationRequest(prompt=PROMPT, steps=2, seed=1, width=side, height=side, sampler="Euler")
    try:
        wait_for(f"http://127.0.0.1:{port}/")
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
        arguments = dict(prompt=PROMPT, steps=2, seed=1, width=side, height=side, sampler="Euler")
        client.predict(**arguments, api_name="/txt2img")  # loads the model
        manager.generate(request)
        through_app, direct = [], []
        for turn in range(3):
            for kind in ("app", "direct") if turn % 2 == 0 else ("direct", "app"):
                if kind == "app":
                    through_app.append(seconds(client.predict, **arguments, api_name="/txt2img")[0])
                else:
                    direct.append(seconds(manager.generate, request)[0])
    finally:
        process.terminate()
        process.wait()
        manager.unload(None)
    app_s, direct_s = statistics.median(through_app), statistics.median(direct)
    rows.insert(0, (f"5. one generation ({side}x{side}, 2 steps), s (median of 3, in turns)",
                    f"engine called directly {direct_s:.2f}", f"through the app {app_s:.2f}",
                    f"{(app_s / direct_s - 1) * 100:+.1f} % overhead",
                    "gradio_client; includes the live previews and writing the PNG (parameters, record, labels)"))
    return rows


def few_step_rows(library_file: Path, side: int) -> list[tuple]:
    """A 4-step run without guidance (LCM scheduler), as with turbo/LCM models: seconds to the first image."""
    from pipelines.request import GenerationRequest

    manager = manager_for(library_file)
    manager.generate(GenerationRequest(prompt=PROMPT, steps=1, seed=1, width=side, height=side))
    fast, _ = seconds(manager.generate, GenerationRequest(prompt=PROMPT, steps=4, seed=1, width=side, height=side,
                                                          guidance_scale=0, sampler="LCM"))
    manager.unload(None)
    return [(f"8. four steps, no guidance, LCM sampler ({side}x{side}), s", "", f"{fast:.2f}", "",
             "what a turbo or LCM model costs per image")]


def precision_rows(library_file: Path, side: int) -> list[tuple]:
    """Means tried on this CPU, one guided UNet step each: why the defaults are what they are."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(library_file.parent / "sd15", subfolder="unet").eval()
    latents, text, t = torch.randn(2, 4, side // 8, side // 8), torch.randn(2, 77, 768), torch.tensor(500)
    with torch.inference_mode():
        unet(latents, t, text)
        fp32, reference = seconds(lambda: unet(latents, t, text).sample)
        unet.to(memory_format=torch.channels_last)
        channels_last, _ = seconds(lambda: unet(latents.to(memory_format=torch.channels_last), t, text).sample)
        unet.to(memory_format=torch.contiguous_format).to(torch.bfloat16)
        bf16, low = seconds(lambda: unet(latents.bfloat16(), t, text.bfloat16()).sample)
    error = float((low.float() - reference).norm() / reference.norm())
    capability = torch.backends.cpu.get_cpu_capability()
    return [(f"means: one UNet step {side}x{side} fp32 / channels_last / bf16, s", f"{fp32:.2f}",
             f"{channels_last:.2f} / {bf16:.2f}", f"bf16 {fp32 / bf16:.2f}x",
             f"bf16 relative error {error:.3f}; CPU capability {capability}")]


def compile_rows(library_file: Path, side: int) -> list[tuple]:
    """torch.compile on the UNet (`--compile`): eager and compiled in turns, one guided step each, medians."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(library_file.parent / "sd15", subfolder="unet").eval()
    latents, text, t = torch.randn(2, 4, side // 8, side // 8), torch.randn(2, 77, 768), torch.tensor(500)
    with torch.inference_mode():
        reference = unet(latents, t, text).sample
        compiled = torch.compile(unet)
        compile_seconds, output = seconds(lambda: compiled(latents, t, text).sample)
        eager, fast = [], []
        for _ in range(3):
            eager.append(seconds(lambda: unet(latents, t, text))[0])
            fast.append(seconds(lambda: compiled(latents, t, text))[0])
    error = float((output - reference).norm() / reference.norm())
    plain, quick = statistics.median(eager), statistics.median(fast)
    return [(f"means: torch.compile, one UNet step {side}x{side}, s (median of 3)", f"eager {plain:.2f}",
             f"{quick:.2f}", f"{plain / quick:.2f}x",
             f"first call compiles: {compile_seconds:.0f} s (less on a later start: torch's on-disk cache); "
             f"relative error {error:.1e}")]


# --- the table -----------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {len(os.sched_getaffinity(0))} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, {gpu}; "
            f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}")


ROW_NAMES = ("denoise", "sdxl", "decode", "switch", "memory", "app", "few steps", "means", "compile", "speed", "speed 4", "cache")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256x256 and 3 steps (a few minutes on 2 CPU cores)")
    parser.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "easel-full-size"),
                        help="where the full-size random-weight models are written (kept for later runs)")
    parser.add_argument("--write", action="store_true", help="write the table to docs/BENCHMARKS.md")
    parser.add_argument("--only", nargs="+", metavar="ROW", choices=ROW_NAMES,
                        help="measure only these rows; with --write their table is added after the others")
    parser.add_argument("--probe", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--naive", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        return probe(*args.probe, naive=args.naive)

    from benchmarks.cpu_speed import cache_rows, speed_rows

    side, steps = (256, 3) if args.quick else (512, 4)
    dtype = torch.float16 if torch.cuda.is_available() else torch.float32
    root = Path(args.dir)
    library_file = write_models(root, dtype)
    from pipelines.tiny import write_tiny_models

    tiny = root / "tiny-models"
    if not (tiny / "models.yaml").exists():
        write_tiny_models(tiny)

    rows = []
    makers = (("denoise", lambda: denoise_rows(library_file, side, steps)),
                       ("sdxl", lambda: sdxl_rows(root, side, steps)),
                       ("decode", lambda: decode_rows(library_file, [side, side * 2])),
                       ("switch", lambda: switch_rows(library_file, side)),
                       ("memory", lambda: memory_rows(library_file, side)),
                       ("app", lambda: app_rows(library_file, side, tiny)),
                       ("few steps", lambda: few_step_rows(library_file, side)),
                       ("means", lambda: precision_rows(library_file, side // 2 if args.quick else side)),
                       ("compile", lambda: compile_rows(library_file, side // 2 if args.quick else side)),
                       ("speed", lambda: speed_rows(root, side)),
                       ("speed 4", lambda: speed_rows(root, side, runs=(4,))),
                       ("cache", lambda: cache_rows(root, side)))
    for name, make in makers:
        if args.only and name not in args.only:
            continue
        started = time.perf_counter()
        try:
            rows += make()
        except Exception as error:  # noqa: BLE001 - one broken row must not lose the others
            rows.append((name, "", "", "", f"failed: {type(error).__name__}: {error}"[:200]))
        print(f"[{name}: {time.perf_counter() - started:.0f} s]", file=sys.stderr, flush=True)
    if not torch.cuda.is_available() and not args.only:
        rows.append(("7. swapping (GPU)", "", "", "", "not measured: no GPU on this machine"))
    command = "python -m benchmarks" + (" --quick" if args.quick else "") + (
        f" --only {' '.join(args.only)}" if args.only else "")
    lines = [f"Measured with `{command}` on {machine()}.", "",
             "| row | baseline (diffusers) | Easel | ratio | note |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in sorted(rows, key=lambda r: r[0])]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        path = ROOT / "docs" / "BENCHMARKS.md"
        if args.only:  # a second table under the whole run's
            path.write_text(path.read_text().rstrip("\n") + "\n\n" + text)
        else:
            header = path.read_text().split("<!-- table -->")[0] if path.exists() else "# Benchmarks\n\n"
            path.write_text(header + "<!-- table -->\n" + text)


if __name__ == "__main__":
    main()
