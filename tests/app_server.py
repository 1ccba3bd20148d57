"""Start `python app.py --demo` on a free port in a subprocess, as a user would, and stop it afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """`env`: more variables for the app; with GRADIO_SERVER_PORT among them, the port is not given as a flag."""

    def __init__(self, tiny_dir: Path, outputs: Path, *extra: str, env: dict | None = None):
        by_variable = "GRADIO_SERVER_PORT" in (env or {})
        env = dict(os.environ, EASEL_DEMO_DIR=str(tiny_dir), GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1",
                   EASEL_DEVICE=os.environ.get("EASEL_TEST_DEVICE", "cpu"), **(env or {}))
        self.port = int(env["GRADIO_SERVER_PORT"]) if by_variable else free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = outputs.parent / f"app-{self.port}.log"
        self.outputs = outputs
        port = [] if by_variable else ["--port", str(self.port)]
        command = [sys.executable, "app.py", "--demo", *port, "--outputs", str(outputs), *extra]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited: {self.log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(self.url, timeout=2)
                return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the app did not answer within 180 s: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
