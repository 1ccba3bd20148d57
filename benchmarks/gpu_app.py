"""Per-tab latency of the running studio on full-size random-weight SD 1.5, through gradio_client.

    python -m benchmarks.gpu_app [--dir /tmp/easel-full] [--steps 20]

Starts `python app.py` on a library of two full-size base models and a full-size canny ControlNet,
calls each tab's endpoint (first call, then warm calls), then alternates the base models under a
device budget that holds one of them. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from PIL import Image

from benchmarks.full_size import write


def build_models(root: Path) -> Path:
    from diffusers import ControlNetModel, UNet2DConditionModel

    write("sd15", root / "sd15-a")
    if not (root / "sd15-b").exists():
        shutil.copytree(root / "sd15-a", root / "sd15-b")
    if not (root / "controlnet-canny").exists():
        unet = UNet2DConditionModel.from_pretrained(root / "sd15-a" / "unet")
        ControlNetModel.from_unet(unet).half().save_pretrained(root / "controlnet-canny")
    library = root / "models.yaml"
    library.write_text(f"include_builtin: false\ndefault: sd15-a\nmodels:\n  sd15-a:\n    source: {root / 'sd15-a'}\n"
                       f"  sd15-b:\n    source: {root / 'sd15-b'}\ncontrolnets:\n  sd1:\n    canny: {root / 'controlnet-canny'}\n")
    return library


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default="/tmp/easel-full")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--port", type=int, default=7870)
    parser.add_argument("--budget", default=None, help="--vram-budget for the swap rows, e.g. 3GB")
    args = parser.parse_args()
    root = Path(args.dir)
    library = build_models(root)
    photo = root / "photo.png"
    from skimage import data

    Image.fromarray(data.astronaut()).save(photo)
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    started = time.perf_counter()
    extra = ["--vram-budget", args.budget] if args.budget else []
    server = subprocess.Popen([sys.executable, "app.py", "--models", str(library), "--port", str(args.port),
                               "--outputs", "off", *extra], env=env)
    url = f"http://127.0.0.1:{args.port}/"
    deadline = time.monotonic() + 180
    while True:
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the app did not start")
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    page_up = time.perf_counter() - started
    try:
        from gradio_client import Client, handle_file

        client = Client(url, verbose=False)
        common = dict(steps=args.steps, seed=1, width=512, height=512)
        mask = root / "mask.png"
        m = Image.new("L", (512, 512), 0)
        m.paste(255, (128, 128, 384, 384))
        m.save(mask)
        calls = {
            "txt2img": dict(prompt="a", api_name="/txt2img"),
            "img2img": dict(prompt="a", image=handle_file(photo), strength=0.75, api_name="/img2img"),
            "inpaint": dict(prompt="a", image={"background": handle_file(photo), "layers": [], "composite": None},
                            mask=handle_file(mask), strength=0.9, api_name="/inpaint"),
            "controlnet": dict(prompt="a", control_type="canny", control_image=handle_file(photo),
                               api_name="/controlnet"),
        }
        rows = []
        for name, call in calls.items():
            times, statuses = [], []
            for _ in range(3):
                t = time.perf_counter()
                _, _, status = client.predict(**common, **call)
                times.append(time.perf_counter() - t)
                statuses.append(status)
            denoise = float(re.search(r"denoise ([\d.]+) s", statuses[-1]).group(1))
            rows.append((name, f"{times[0]:.2f}", f"{statistics.median(times[1:]):.2f}", f"{denoise:.2f}",
                         f"{args.steps / denoise:.1f}"))
        swaps = []
        for model in ("sd15-b", "sd15-a") * 2:
            t = time.perf_counter()
            client.predict(prompt="a", model=model, steps=2, seed=1, width=512, height=512, api_name="/txt2img")
            swaps.append(time.perf_counter() - t)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"\npage answered {page_up:.1f} s after `python app.py` started\n")
    print(f"| tab (512x512, {args.steps} steps) | first call s | warm call s (median) | denoise s | steps/s |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nalternating base models sd15-b/sd15-a, 2-step txt2img calls{' under --vram-budget ' + args.budget if args.budget else ''}: "
          + ", ".join(f"{s:.2f}" for s in swaps) + " s")


if __name__ == "__main__":
    main()
