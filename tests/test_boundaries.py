"""The architecture's firm boundaries: the engine never imports Gradio; the UI never imports torch or diffusers.

Four packages: `pipelines` (the engine), `ui` (the Gradio page), `api` (the AUTOMATIC1111-compatible HTTP API)
and `server` (what the page and the API share). The page and the API never import each other; server imports
neither; all three reach the engine through the names of its package top only, never a module of it.
"""

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


GRADIO = {"gradio", "gradio_client"}
TORCH = {"torch", "diffusers", "transformers", "controlnet_aux"}
FRONT_ENDS = ("ui", "api", "server")  # the packages that use the engine


def engine_imports(folder: str) -> dict[str, list[tuple[str, list[str]]]]:
    """Each file's imports of the engine: the module named, and for `from ... import` the names taken from it."""
    found = {}
    for path in (ROOT / folder).rglob("*.py"):
        imports = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imports += [(alias.name, []) for alias in node.names if alias.name.split(".")[0] == "pipelines"]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.split(".")[0] == "pipelines":
                    imports.append((node.module, [alias.name for alias in node.names]))
        found[str(path.relative_to(ROOT))] = imports
    return found


@pytest.mark.parametrize("folder, forbidden", [("pipelines", GRADIO | {"ui", "api", "server"}),
                                               ("ui", TORCH | {"api"}),
                                               ("api", GRADIO | TORCH | {"ui"}),
                                               ("server", GRADIO | TORCH | {"ui", "api"})])
def test_a_layer_does_not_import_what_belongs_to_another(folder, forbidden):
    offending = {path: names & forbidden for path, names in imported_modules(folder).items() if names & forbidden}
    assert offending == {}


@pytest.mark.parametrize("folder", FRONT_ENDS)
def test_the_front_ends_import_the_engine_from_its_package_top_only(folder):
    import pipelines

    by_module = {path: sorted(module for module, _ in imports if module != "pipelines")
                 for path, imports in engine_imports(folder).items()}
    assert {path: modules for path, modules in by_module.items() if modules} == {}
    # and only the names it exports (not a module of it: `from pipelines import manager` is one)
    by_name = {path: sorted(name for module, names in imports if module == "pipelines" for name in names
                            if name not in pipelines.__all__)
               for path, imports in engine_imports(folder).items()}
    assert {path: names for path, names in by_name.items() if names} == {}


@pytest.mark.parametrize("folder", FRONT_ENDS)
def test_a_front_end_reaches_another_package_by_its_name_not_by_a_relative_import(folder):
    """`from .. import x` in ui/ once reached ui's parent; now each package names the ones it uses."""
    offending = [str(path.relative_to(ROOT)) for path in (ROOT / folder).rglob("*.py")
                 if any(isinstance(node, ast.ImportFrom) and node.level > 1
                        for node in ast.walk(ast.parse(path.read_text())))]
    assert offending == []


def test_the_engine_package_top_imports_nothing_until_a_name_is_used():
    """Its light names come without torch and diffusers; PipelineManager brings them."""
    import subprocess
    import sys

    script = ("import sys, pipelines\n"
              "print(sorted(name for name in sys.modules if name.startswith('pipelines.')))\n"
              "[getattr(pipelines, name) for name in pipelines.__all__ if name != 'PipelineManager']\n"
              "print(sorted({'torch', 'diffusers', 'gradio'} & set(sys.modules)))\n"
              "from pipelines import PipelineManager\n"
              "print('torch' in sys.modules, PipelineManager.__module__)\n")
    lines = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert lines == ["[]", "[]", "True pipelines.manager"]


def test_the_engine_package_top_exports_each_name_once_and_tells_type_checkers_the_same():
    import pkgutil

    import pipelines

    source = ast.parse((ROOT / "pipelines" / "__init__.py").read_text())
    checked = [node for node in source.body
               if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"]
    typed = [alias.asname or alias.name for block in checked for node in ast.walk(block)
             if isinstance(node, ast.ImportFrom) for alias in node.names]
    assert len(pipelines.__all__) == len(set(pipelines.__all__))
    assert sorted(typed) == sorted(pipelines.__all__) == sorted(pipelines._WHERE)  # one list, written out thrice
    # a name that is also a module's would be the module once that module is imported
    modules = {module.name for module in pkgutil.iter_modules(pipelines.__path__)}
    assert modules & set(pipelines.__all__) == set()
    assert all(getattr(pipelines, name) is not None for name in pipelines.__all__)


def test_the_engine_protocol_lists_what_the_managers_have(manager, library):
    """The page and the API are typed against `Engine`; the real manager and the lazy one both answer to it."""
    from typing import Protocol

    from pipelines import Engine, LazyEngine, LazyManager
    from pipelines.engine_settings import EngineSettings

    def members(protocol) -> set[str]:
        names = set()
        for klass in protocol.__mro__:
            if klass not in (object, Protocol):
                names |= {name for name in [*vars(klass), *getattr(klass, "__annotations__", {})]
                          if not name.startswith("_")}
        return names

    assert {"generate", "preprocess", "preload", "unload", "status", "model_facts", "control_types", "samplers",
            "model_names", "library", "settings", "busy", "last_run", "credentials"} <= members(Engine)
    assert [name for name in sorted(members(Engine)) if not hasattr(manager, name)] == []
    assert members(LazyEngine) - members(Engine) == {"started", "warm_up"}
    lazy = LazyManager(library, EngineSettings(device="cpu"))
    assert not lazy.started and callable(lazy.warm_up)  # its own: asking them does not start the engine


def test_devices_resolve_as_asked():
    import torch

    from pipelines.devices import resolve_device, resolve_dtype

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_dtype(torch.device("cpu"), "fp32") == torch.float32  # auto: tests/test_precision.py
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

    script = ("import sys, app\nfrom server import app_settings as settings\n"
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
