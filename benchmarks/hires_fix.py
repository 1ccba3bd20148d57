"""What the hires fix costs against drawing the picture at its final size in one pass.

    python -m benchmarks.hires_fix [--dir /tmp/easel-hires] [--steps 8] [--size 512] [--strength 0.5]

Full-size SD 1.5 with random weights (speed does not depend on the weights' values), Euler, side by side in one
process after one warm-up run: one pass at SIZE, then the hires fix drawing at SIZE/2 and redrawing at SIZE with
the latent upscaler, Lanczos and a full-size Real-ESRGAN compact 4x (random weights, as realesr-general-x4v3)
dropped into the models folder. Prints a Markdown table; ratios are against the one pass.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.full_size import write
from pipelines.catalog import Library
from pipelines.engine_settings import EngineSettings
from pipelines.manager import PipelineManager
from pipelines.request import GenerationRequest, HiresFix


def write_compact_upscaler(path: Path) -> None:
    import torch
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(0)
    network = Compact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=32, upscale=4)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(path))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default="/tmp/easel-hires")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--strength", type=float, default=0.5)
    args = parser.parse_args()
    root = Path(args.dir)
    model = root / "sd15"
    if not (model / "model_index.json").exists():
        write("sd15", model)
    upscaler = root / "models" / "ESRGAN" / "realesr-compact-x4.safetensors"
    if not upscaler.exists():
        write_compact_upscaler(upscaler)
    (root / "models.yaml").write_text(f"include_builtin: false\ndefault: sd15\nmodels:\n  sd15:\n    source: {model}\n")
    library = Library.from_file(root / "models.yaml")
    library.add_folders([root / "models"])
    manager = PipelineManager(library, EngineSettings(watermark=False, content_credentials=False))
    half = args.size // 2
    common = dict(prompt="a lighthouse", steps=args.steps, sampler="Euler", seed=1)

    def hires(upscaler_name: str) -> GenerationRequest:
        return GenerationRequest(width=half, height=half, strength=args.strength,
                                 hires=HiresFix(scale=2.0, upscaler=upscaler_name), **common)

    ways = [("one pass at %d" % args.size, GenerationRequest(width=args.size, height=args.size, **common))]
    ways += [(f"hires {half} → {args.size}, {name}", hires(name))
             for name in ("Latent", "Lanczos", "realesr-compact-x4")]
    manager.generate(GenerationRequest(width=half, height=half, **{**common, "steps": 1}))  # load and place once
    manager.generate(hires("realesr-compact-x4"))  # read the upscaler file once
    rows = []
    for label, request in ways:
        started = time.perf_counter()
        result = manager.generate(request)
        rows.append((label, time.perf_counter() - started, result.images[0].size))
    print(f"\nSD 1.5 full size, random weights, {args.steps} steps, Euler, denoising strength {args.strength}, "
          f"on {manager.device} ({manager.dtype})\n")
    print(f"| way | seconds | × one pass at {args.size} | picture |\n|---|---|---|---|")
    for label, seconds, size in rows:
        print(f"| {label} | {seconds:.1f} | {seconds / rows[0][1]:.2f} | {size[0]}×{size[1]} |")


if __name__ == "__main__":
    main()
