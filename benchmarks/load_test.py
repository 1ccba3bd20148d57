"""Load test: many users at once, all four tasks and two base models, against the studio on the tiny models.

    python -m benchmarks.load_test                     # 64 concurrent users, then 300 sequential requests
    python -m benchmarks.load_test --users 16 --sequential 40 --queue-size 4

Every concurrent request must come back with its own picture (its seed, size and prompt in the PNG's
parameters: no mix-ups between users) or with Gradio's "queue full" answer; the server must then answer
a fresh request; over the sequential run the server's resident memory (RSS) is sampled to show it stays
flat. Prints a table, and with --write, writes it to docs/LOAD.md. tests/test_load.py runs a short version.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
QUEUE_FULL = "queue full"

# (endpoint, model) pairs cycled through: every task, two base models (SD 1.5-like and SDXL-like)
MIX = [("txt2img", "tiny-sd15"), ("txt2img", "tiny-sdxl"), ("img2img", "tiny-sd15"), ("inpaint", "tiny-sd15"),
       ("controlnet", "tiny-sd15"), ("img2img", "tiny-sdxl"), ("controlnet", "tiny-sdxl"), ("inpaint", "tiny-sdxl")]
SIZES = [(64, 64), (72, 64), (64, 80), (96, 64), (64, 72), (80, 80)]


@dataclass
class Outcome:
    index: int
    endpoint: str
    model: str
    result: str  # "ok", QUEUE_FULL, or what went wrong
    seconds: float
    problems: list[str] = field(default_factory=list)  # mix-ups: a wrong seed, size or prompt


def make_inputs(folder: Path) -> Path:
    from skimage import data

    Image.fromarray(data.astronaut()).resize((96, 96)).save(folder / "photo.png")
    layer = np.zeros((96, 96, 4), np.uint8)
    layer[24:72, 24:72] = (255, 255, 255, 200)
    Image.fromarray(layer, "RGBA").save(folder / "paint.png")
    return folder


def request_for(index: int, inputs: Path) -> tuple[str, str, dict]:
    """Request number `index` of the mix: its own prompt, seed and size, so mix-ups show."""
    from gradio_client import handle_file

    endpoint, model = MIX[index % len(MIX)]
    width, height = SIZES[index % len(SIZES)]
    arguments = dict(prompt=f"request {index}", model=model, seed=50_000 + index, steps=3, width=width, height=height)
    photo = handle_file(inputs / "photo.png")
    if endpoint == "img2img":
        arguments.update(image=photo, strength=0.6)
    elif endpoint == "inpaint":
        arguments.update(image={"background": photo, "layers": [handle_file(inputs / "paint.png")], "composite": None})
    elif endpoint == "controlnet":
        arguments.update(control_type="canny", control_image=photo)
    return endpoint, model, arguments


def run_one(url: str, index: int, inputs: Path, downloads: Path, start: threading.Barrier | None = None,
            client=None) -> Outcome:
    """One request, the answer checked; by default from a new user (a client and session of their own)."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError
    from gradio_client.utils import QueueError

    from pipelines.metadata import parse_parameters, read_parameters

    endpoint, model, arguments = request_for(index, inputs)
    client = client or Client(url, verbose=False, download_files=str(downloads / str(index)))
    if start is not None:
        start.wait()  # everybody presses Generate at the same moment
    began = time.perf_counter()
    try:
        gallery, info, _ = client.predict(**arguments, api_name=f"/{endpoint}")
    except QueueError:
        return Outcome(index, endpoint, model, QUEUE_FULL, time.perf_counter() - began)
    except (AppError, Exception) as error:  # noqa: BLE001 - reported in the table, never hidden
        return Outcome(index, endpoint, model, f"{type(error).__name__}: {error}", time.perf_counter() - began)
    seconds = time.perf_counter() - began
    path = gallery[0]["image"]
    parameters = parse_parameters(read_parameters(path) or "")
    problems = []
    if Image.open(path).size != (arguments["width"], arguments["height"]):
        problems.append(f"size {Image.open(path).size} != {(arguments['width'], arguments['height'])}")
    if parameters.get("seed") != arguments["seed"]:
        problems.append(f"seed {parameters.get('seed')} != {arguments['seed']}")
    if parameters.get("prompt") != arguments["prompt"] or not info.startswith(arguments["prompt"]):
        problems.append(f"prompt {parameters.get('prompt')!r} != {arguments['prompt']!r}")
    if parameters.get("settings", {}).get("Model") != model:
        problems.append(f"model {parameters.get('settings', {}).get('Model')} != {model}")
    return Outcome(index, endpoint, model, "ok", seconds, problems)


def concurrent_users(url: str, users: int, inputs: Path, downloads: Path) -> list[Outcome]:
    start = threading.Barrier(users)
    outcomes: list[Outcome | None] = [None] * users

    def user(index):
        outcomes[index] = run_one(url, index, inputs, downloads, start)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def sequential_memory(url: str, pid: int, requests: int, inputs: Path, downloads: Path, every: int = 10,
                      new_users: bool = False):
    """Many requests in a row over the whole mix, from one user (or each from a new user, with a session of
    their own); the server's RSS (MiB) every `every` requests."""
    import psutil
    from gradio_client import Client

    process = psutil.Process(pid)
    samples, failures = [], []
    one_user = None if new_users else Client(url, verbose=False, download_files=str(downloads / "one-user"))
    for index in range(requests):
        outcome = run_one(url, 10_000 + index, inputs, downloads, client=one_user)
        if outcome.result != "ok" or outcome.problems:
            failures.append(outcome)
        if index % every == every - 1:
            samples.append((index + 1, process.memory_info().rss / 2**20))
    return samples, failures


def summary(outcomes: list[Outcome]) -> dict:
    ok = [o for o in outcomes if o.result == "ok"]
    return {
        "ok": len(ok), "queue_full": sum(o.result == QUEUE_FULL for o in outcomes),
        "errors": [o for o in outcomes if o.result not in ("ok", QUEUE_FULL)],
        "mixups": [o for o in ok if o.problems],
        "median_s": statistics.median(o.seconds for o in ok) if ok else float("nan"),
        "max_s": max((o.seconds for o in ok), default=float("nan")),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=64, help="concurrent users (one request each)")
    parser.add_argument("--queue-size", type=int, default=20, help="the app's --queue-size")
    parser.add_argument("--sequential", type=int, default=300, help="requests in a row for the memory run")
    parser.add_argument("--max-sessions", type=int, help="the app's --max-sessions (sessions kept in memory)")
    parser.add_argument("--write", action="store_true", help="write the table to docs/LOAD.md")
    parser.add_argument("--append", action="store_true", help="add the table to docs/LOAD.md")
    args = parser.parse_args(argv)

    from pipelines.tiny import write_tiny_models
    from tests.app_server import AppServer

    work = Path(tempfile.mkdtemp(prefix="easel-load-"))
    tiny = work / "tiny-models"
    write_tiny_models(tiny)
    inputs = make_inputs(work)
    extra = ["--max-sessions", str(args.max_sessions)] if args.max_sessions else []
    server = AppServer(tiny, work / "outputs", "--queue-size", str(args.queue_size), *extra)
    try:
        began = time.perf_counter()
        outcomes = concurrent_users(server.url, args.users, inputs, work / "downloads")
        burst_seconds = time.perf_counter() - began
        fresh = run_one(server.url, 99_999, inputs, work / "downloads")
        samples, failures = sequential_memory(server.url, server.process.pid, args.sequential, inputs,
                                              work / "downloads")
        session_samples, session_failures = sequential_memory(server.url, server.process.pid, args.sequential,
                                                              inputs, work / "downloads", new_users=True)
    finally:
        server.stop()
    s = summary(outcomes)
    growth = samples[-1][1] - samples[0][1]
    session_growth = session_samples[-1][1] - samples[-1][1]
    per_session = max(1, len(session_samples) * 10)
    lines = [
        "# Load test" if not args.append else "## Load test, sessions capped",
        "",
        f"`python -m benchmarks.load_test --users {args.users} --queue-size {args.queue_size} "
        f"--sequential {args.sequential}{' --max-sessions ' + str(args.max_sessions) if args.max_sessions else ''}` on {platform.machine()}, {psutil_cores()} cores, Python "
        f"{platform.python_version()}; the studio on the tiny demo models (CPU), all four tasks, two base models.",
        "",
        "| what | result |",
        "|---|---|",
        f"| concurrent users, one request each | {args.users} (queue size {args.queue_size}) |",
        f"| completed with their own picture | {s['ok']} |",
        f"| answered \"queue full\" | {s['queue_full']} |",
        f"| other errors | {len(s['errors'])} |",
        f"| mix-ups (wrong seed, size, prompt or model) | {len(s['mixups'])} |",
        f"| median / slowest wait for a completed request | {s['median_s']:.2f} s / {s['max_s']:.2f} s |",
        f"| the whole burst | {burst_seconds:.1f} s |",
        f"| a fresh request right after | {fresh.result}{' ' + str(fresh.problems) if fresh.problems else ''}"
        f" in {fresh.seconds:.2f} s |",
        f"| sequential requests from one user | {args.sequential}, failures: {len(failures)} |",
        f"| server RSS after {samples[0][0]} / after {samples[-1][0]} of them | {samples[0][1]:.0f} MiB / "
        f"{samples[-1][1]:.0f} MiB (growth {growth:+.0f} MiB) |",
        f"| then sequential requests, each from a new user | {args.sequential}, failures: {len(session_failures)} |",
        f"| server RSS growth over them | {session_growth:+.0f} MiB, {session_growth * 1024 / per_session:.0f} KiB "
        f"per new session |",
        "",
        "RSS (MiB) every 10 requests, one user: " + ", ".join(f"{rss:.0f}" for _, rss in samples),
        "",
        "RSS (MiB) every 10 requests, each from a new user: " + ", ".join(f"{rss:.0f}" for _, rss in session_samples),
        "",
        "One user's requests leave memory flat. A new user's session keeps its state (its history, the values "
        "of its widgets) in the server's memory, as Gradio does for every session; `--max-sessions` (default "
        "2000) caps how many are kept, the oldest dropped first, which bounds this memory.",
    ]
    for outcome in s["errors"] + s["mixups"] + failures + session_failures:
        lines.append(f"- request {outcome.index} ({outcome.endpoint}, {outcome.model}): {outcome.result} "
                     f"{outcome.problems}")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write or args.append:
        target = ROOT / "docs" / "LOAD.md"
        target.write_text((target.read_text() + "\n" if args.append and target.exists() else "") + text)


def psutil_cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    main()
