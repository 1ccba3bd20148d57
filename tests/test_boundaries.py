"""The architecture's firm boundaries: the engine never imports Gradio; the UI never imports torch or diffusers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(folder: str) -> dict[str, set[str]]:
    found = {}
    for path in (ROOT / folder).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("folder, forbidden", [("pipelines", {"gradio", "gradio_client"}),
                                               ("ui", {"torch", "diffusers", "transformers", "controlnet_aux"})])
def test_a_layer_does_not_import_what_belongs_to_another(folder, forbidden):
    offending = {path: names & forbidden for path, names in imported_modules(folder).items() if names & forbidden}
    assert offending == {}


def test_devices_resolve_as_asked():
    import torch

    from pipelines.devices import resolve_device, resolve_dtype

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_dtype(torch.device("cpu")) == torch.float32
    assert resolve_dtype(torch.device("cpu"), "bf16") == torch.bfloat16
    with pytest.raises(ValueError, match="dtype: unknown number format 'fp8'"):
        resolve_dtype(torch.device("cpu"), "fp8")
    with pytest.raises(ValueError, match="device: unknown device 'gpu0'"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU is available"):
            resolve_device("cuda")


def test_the_page_is_built_before_the_engine_is_imported(tiny_dir):
    """`python app.py` serves the page at once: torch and diffusers (seconds to import) come after it."""
    import subprocess
    import sys

    script = ("import sys, app\nfrom ui import settings\n"
              f"demo, manager = app.build_app(settings.parse(['--models', {str(tiny_dir / 'models.yaml')!r}]))\n"
              "print(sorted({'torch', 'diffusers'} & set(sys.modules)), manager.started)\n"
              "manager.warm_up()\nprint(manager.samplers()[:2], manager.started)\n")
    lines = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert lines == ["[] False", "['Euler', 'Euler a'] True"]


def test_an_engine_that_cannot_start_is_said_once_and_the_app_exits(tiny_dir):
    """The page comes up before the engine; if the engine then cannot start, the user reads why, not a trace."""
    import os
    import subprocess
    import sys

    from tests.app_server import free_port

    env = dict(os.environ, EASEL_DEMO_DIR=str(tiny_dir), GRADIO_ANALYTICS_ENABLED="False")
    run = subprocess.run([sys.executable, "app.py", "--demo", "--port", str(free_port()), "--device", "gpu0"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    assert "the engine could not start: ValueError: device: unknown device 'gpu0'" in run.stderr
    assert "Traceback" not in run.stderr
