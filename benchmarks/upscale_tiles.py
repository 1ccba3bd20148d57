"""What tiling costs and saves when upscaling: a full-size 4x upscaler with random weights, tiled against one pass.

    python -m benchmarks.upscale_tiles [--arch esrgan|compact] [--size 256] [--device cpu]

The architectures are those of RealESRGAN_x4plus (ESRGAN, 64 filters, 23 blocks) and realesr-general-x4v3
(compact, 64 features, 32 convolutions); speed and memory do not depend on the weights' values. Each way runs
in a fresh process of its own, so that its peak memory is its own: the process's peak resident memory on a CPU,
the allocator's peak on a GPU. Prints a Markdown table; ratios are against the untiled pass.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

WAYS = {"one pass": 100_000, "tiles of 192": 192, "tiles of 128": 128}


def run_one(arch: str, size: int, tile: int, device: str) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    from pipelines import upscalers

    torch.manual_seed(0)
    if arch == "esrgan":
        from spandrel.architectures.ESRGAN import ESRGAN

        network = ESRGAN(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4)
    else:
        from spandrel.architectures.Compact import Compact

        network = Compact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=32, upscale=4)
    from spandrel import ModelLoader

    model = ModelLoader().load_from_state_dict(network.state_dict()).eval().to(device)
    picture = Image.fromarray((np.random.default_rng(0).random((size, size, 3)) * 255).astype(np.uint8))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    made = upscalers.upscale(picture, 4, model, tile=tile)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    return {"seconds": time.perf_counter() - started, "peak": peak, "size": made.size}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", choices=["esrgan", "compact"], default="compact")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child process: run this tile size
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.arch, args.size, args.one, args.device)))
        return
    rows = {}
    for way, tile in WAYS.items():
        out = subprocess.run([sys.executable, "-m", "benchmarks.upscale_tiles", "--arch", args.arch, "--size",
                              str(args.size), "--device", args.device, "--one", str(tile)],
                             capture_output=True, text=True, check=True).stdout
        rows[way] = json.loads(out.strip().splitlines()[-1])
    base = rows["one pass"]
    print(f"{args.arch} 4x, {args.size}x{args.size} -> {base['size'][0]}x{base['size'][1]} on {args.device}\n")
    print("| way | seconds | × one pass | peak memory (MiB) | × one pass |")
    print("|---|---|---|---|---|")
    for way, row in rows.items():
        print(f"| {way} | {row['seconds']:.2f} | {row['seconds'] / base['seconds']:.2f} | {row['peak'] / 2**20:.0f} | "
              f"{row['peak'] / max(base['peak'], 1):.2f} |")


if __name__ == "__main__":
    main()
