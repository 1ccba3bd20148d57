"""What a LoRA set costs per run: full-size SD 1.5 with random weights, two rank-16 LoRAs in kohya layout.

    python -m benchmarks.lora_switch [--dir /tmp/easel-lora] [--steps 20] [--size 512]

Side by side in one process: a plain run, a run with both LoRAs (applied before it and taken out after
it, as every run with tags does), and the apply + remove alone. Prints a Markdown table; ratios are
against the plain run. On a CPU pass --size 256 --steps 2 to keep it short.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from benchmarks.full_size import write
from pipelines import lora
from pipelines.catalog import Library
from pipelines.engine_settings import EngineSettings
from pipelines.manager import PipelineManager
from pipelines.request import GenerationRequest
from pipelines.tiny_extras import write_kohya_lora


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default="/tmp/easel-lora")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(args.dir)
    model = root / "sd15"
    if not (model / "model_index.json").exists():
        write("sd15", model)
    loras = root / "models" / "Lora"
    loras.mkdir(parents=True, exist_ok=True)
    from diffusers import StableDiffusionPipeline

    pipeline = None
    for seed, name in ((1, "style-a"), (2, "style-b")):
        if not (loras / f"{name}.safetensors").exists():
            pipeline = pipeline or StableDiffusionPipeline.from_pretrained(model)
            write_kohya_lora(pipeline, loras / f"{name}.safetensors", seed, rank=16)
    del pipeline
    (root / "models.yaml").write_text(f"include_builtin: false\ndefault: sd15\nmodels:\n  sd15:\n    source: {model}\n")
    library = Library.from_file(root / "models.yaml")
    library.add_folders([root / "models"])
    manager = PipelineManager(library, EngineSettings(watermark=False, content_credentials=False))
    request = dict(steps=args.steps, width=args.size, height=args.size, seed=1)
    manager.generate(GenerationRequest(prompt="warm up", **request))  # load and place once
    manager.generate(GenerationRequest(prompt="warm up <lora:style-a:1>", **request))  # read the LoRA files once

    def timed(prompt: str) -> float:
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            manager.generate(GenerationRequest(prompt=prompt, **request))
            best = min(best, time.perf_counter() - started)
        return best

    plain = timed("a lighthouse")
    with_loras = timed("a lighthouse <lora:style-a:0.8> <lora:style-b:0.5>")
    base = manager.cache.get("base:sd15")
    files = [manager._lora_file(n, library.loras()[n].path) for n in ("style-a", "style-b")]
    switch = float("inf")
    for _ in range(args.repeat):
        if manager.device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        lora.apply(base.pipeline, [(files[0], 0.8, 0.8), (files[1], 0.5, 0.5)])
        lora.remove(base.pipeline)
        if manager.device.type == "cuda":
            torch.cuda.synchronize()
        switch = min(switch, time.perf_counter() - started)
    print(f"\nSD 1.5 full size, random weights, {args.size}x{args.size}, {args.steps} steps, on {manager.device} "
          f"({manager.dtype}); best of {args.repeat}\n")
    print("| run | seconds | vs plain |\n|---|---|---|")
    for label, seconds in (("plain run", plain), ("run with 2 LoRAs (applied and removed)", with_loras),
                           ("apply + remove 2 LoRAs alone", switch)):
        print(f"| {label} | {seconds:.3f} | {seconds / plain:.2f} |")


if __name__ == "__main__":
    main()
