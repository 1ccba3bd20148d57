"""The engine on a GPU with full-size random-weight SD 1.5: load, swap and run times, peak memory per offload mode.

    python -m benchmarks.gpu_engine [--dir /tmp/easel-full]

Prints a Markdown table. Needs a CUDA GPU.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import torch

from benchmarks.full_size import write
from pipelines.catalog import Library
from pipelines.manager import PipelineManager
from pipelines.request import GenerationRequest
from pipelines.engine_settings import EngineSettings

GIB = 2**30


def library(folder: Path) -> Library:
    text = ("include_builtin: false\ndefault: sd15-a\nmodels:\n"
            f"  sd15-a:\n    source: {folder / 'sd15-a'}\n  sd15-b:\n    source: {folder / 'sd15-b'}\n")
    (folder / "models.yaml").write_text(text)
    return Library.from_file(folder / "models.yaml")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default="/tmp/easel-full")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    root = Path(args.dir)
    started = time.perf_counter()
    write("sd15", root / "sd15-a")
    if not (root / "sd15-b").exists():
        shutil.copytree(root / "sd15-a", root / "sd15-b")  # a second base model of the same size
    print(f"built full-size SD 1.5 (random weights) in {time.perf_counter() - started:.1f} s")
    rows = []
    request = GenerationRequest(prompt="a photo of an astronaut riding a horse", steps=args.steps, seed=1, width=512, height=512)

    for mode in ("none", "model", "sequential"):
        manager = PipelineManager(library(root), EngineSettings(offload=mode))
        manager.generate(GenerationRequest(prompt="warm-up", steps=2, seed=1, width=512, height=512))
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        result = manager.generate(request)
        peak = torch.cuda.max_memory_allocated() / GIB
        rows.append((f"512x512, {args.steps} steps, offload={mode}", result.timings["load"], result.timings["denoise"],
                     result.timings["decode"], f"{args.steps / result.timings['denoise']:.2f} steps/s", f"{peak:.2f} GiB"))
        del manager
        torch.cuda.empty_cache()

    # Swapping: two base models under a budget that holds one.
    manager = PipelineManager(library(root), EngineSettings())
    cold = time.perf_counter()
    manager.generate(GenerationRequest(model="sd15-a", prompt="a", steps=2, seed=1, width=512, height=512))
    cold = time.perf_counter() - cold
    manager.generate(GenerationRequest(model="sd15-b", prompt="a", steps=2, seed=1, width=512, height=512))
    one = sum(c.nbytes for c in manager.residency.components.values() if c.owner == "sd15-a")
    manager.residency.fixed_budget = int(one * 1.2)
    switch_times = []
    for name in ("sd15-a", "sd15-b") * 3:
        result = manager.generate(GenerationRequest(model=name, prompt="a", steps=2, seed=1, width=512, height=512))
        switch_times.append(result.timings["total"])
    moves = [m for m in manager.status()["recent_moves"] if m["component"].endswith("/unet")]
    to_gpu = [m for m in moves if m["to"] != "RAM"]
    to_ram = [m for m in moves if m["to"] == "RAM"]
    unet_gib = to_gpu[-1]["bytes"] / GIB
    print()
    print(f"device: {torch.cuda.get_device_name()}  dtype: {manager.dtype}  base model weights: {one / GIB:.2f} GiB")
    print()
    print("| run | load s | denoise s | decode s | speed | peak GPU memory |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(x) for x in row) + " |")
    print()
    print(f"first generation including loading from disk: {cold:.2f} s")
    print(f"UNet ({unet_gib:.2f} GiB) RAM->GPU: {sum(m['seconds'] for m in to_gpu) / len(to_gpu):.3f} s "
          f"({unet_gib / (sum(m['seconds'] for m in to_gpu) / len(to_gpu)):.1f} GiB/s); GPU->RAM: "
          f"{sum(m['seconds'] for m in to_ram) / max(1, len(to_ram)):.3f} s")
    print(f"alternating two base models under a one-model budget, 2-step runs: "
          f"{', '.join(f'{t:.2f}' for t in switch_times)} s; evictions: {manager.status()['evictions']}")


if __name__ == "__main__":
    main()
