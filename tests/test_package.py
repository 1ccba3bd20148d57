"""Easel as a user installs it: `pip install .` into a fresh virtual environment, then the `easel` command.

The environment sees the dependencies already installed (--system-site-packages) and Easel is built without
isolation or dependencies, so the install costs seconds. It is built from a copy of the checkout, so that
setuptools' build/ and easel.egg-info never land in the checkout (nor stale files from an earlier build in
the wheel). The command runs from another folder, so nothing can come from the checkout by accident: the
style sheet and example photos must be found where the package put them. One app process serves all checks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipelines.metadata import parse_parameters, read_parameters
from pipelines.version import VERSION
from tests.app_server import ROOT, free_port

pytestmark = pytest.mark.slow  # a virtual environment and the installed `easel` command

# Left out of the copy at the top of the checkout: what runs and builds leave behind, and the history.
# tests/ and benchmarks/ are copied on purpose: the package must leave them out by itself.
LEFT_BEHIND = {".git", ".hypothesis", ".benchmarks", "test-artifacts", "build", "outputs", "models", ".whl"}


def _copy_ignore(folder: str, names: list[str]) -> set[str]:
    ignored = {name for name in names if name == "__pycache__" or name.endswith((".pyc", ".egg-info"))}
    if Path(folder).resolve() == ROOT:
        ignored |= LEFT_BEHIND.intersection(names)
    return ignored


def run(command: list, cwd: Path, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (f"{command} failed ({result.returncode}):\n"
                                    f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory, tiny_dir):
    """A venv with Easel installed from the checkout (not editable), and the environment to run it in."""
    root = tmp_path_factory.mktemp("package")
    source, venv, work = root / "source", root / "venv", root / "work"
    shutil.copytree(ROOT, source, ignore=_copy_ignore)
    work.mkdir()
    # No pip of its own (--without-pip, which is also faster): `venv/bin/python -m pip` is the pip installed
    # beside the dependencies, and the build uses their setuptools. A venv's own pip would bring, on
    # Python 3.11, an old setuptools that cannot read pyproject.toml's license fields.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(EASEL_DEMO_DIR=str(tiny_dir), HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               EASEL_DEVICE=os.environ.get("EASEL_TEST_DEVICE", "cpu"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    run([python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-input", "-q", source], work, env)
    return {"venv": venv, "python": python, "easel": venv / "bin" / "easel", "work": work, "env": env}


@pytest.fixture(scope="module")
def server(installed):
    """`easel --demo` on a free port, started from a folder that holds nothing of Easel's."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = installed["work"] / "easel.log"
    command = [installed["easel"], "--demo", "--port", str(port), "--outputs", "off"]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=installed["work"], env=installed["env"], stdout=out,
                                   stderr=subprocess.STDOUT)
    helper = None
    try:
        # `easel --help` runs while the app starts: each pays for importing Gradio, side by side, not in turn.
        helper = subprocess.Popen([installed["easel"], "--help"], cwd=installed["work"], env=installed["env"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"easel exited ({process.returncode}): {log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    page = (response.status, response.read().decode())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"easel did not answer within 180 s: {log.read_text()[-3000:]}") from None
                time.sleep(0.2)
        yield {"url": url, "page": page, "process": process, "log": log, "help": helper}
    finally:
        if helper is not None and helper.poll() is None:
            helper.kill()
            helper.communicate()
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_installed_package_is_imported_and_carries_the_one_version(installed):
    # Where `import app` etc. would load from (find_spec: without paying for Gradio's import again;
    # the server below runs that import), and what the installed distribution says of itself.
    script = ("import importlib.metadata as m, importlib.util as u, json, ui.assets; "
              "names = ('app', 'ui', 'api', 'server', 'pipelines'); "
              "print(json.dumps({'files': {n: u.find_spec(n).origin for n in names}, "
              "'assets': str(ui.assets.ASSETS), "
              "'version': m.version('easel'), 'record': [str(f) for f in m.files('easel')], "
              "'script': m.entry_points(group='console_scripts')['easel'].value}))")
    facts = json.loads(run([installed["python"], "-c", script], installed["work"], installed["env"]).stdout)
    site = Path(facts["files"]["app"]).parent
    assert site.name == "site-packages" and site.is_relative_to(installed["venv"]), facts["files"]
    for name, file in facts["files"].items():
        assert Path(file).is_relative_to(site) and not Path(file).is_relative_to(ROOT), (name, file)
    assert facts["version"] == VERSION
    assert facts["script"] == "app:main"
    record = set(facts["record"])
    assert {"app.py", "ui/assets.py", "api/routes.py", "server/app_settings.py", "pipelines/version.py",
            "assets/style.css"} <= record
    examples = sorted(path.name for path in (ROOT / "assets" / "examples").glob("*.png"))
    assert examples and all(f"assets/examples/{name}" in record for name in examples)
    assert Path(facts["assets"]) == site / "assets" and (site / "assets" / "style.css").is_file()
    assert not [path for path in record if path.startswith(("tests/", "benchmarks/"))]
    assert not (site / "tests").exists() and not (site / "benchmarks").exists()


def test_easel_help_prints_the_flags(server):
    out, err = server["help"].communicate(timeout=120)
    assert server["help"].returncode == 0, err[-3000:]
    assert out.startswith("usage: easel")
    for flag in ("--demo", "--port", "--outputs", "--models", "--host", "--auth"):
        assert flag in out


def test_easel_serves_the_page_with_its_style_sheet(installed, server):
    # The venv's own command ran: its interpreter line points at the venv's python, whose `app`, `ui` and
    # `pipelines` are the installed ones (the first test), and it ran in a folder with no assets/ of its own.
    # (pip writes `#!<python>`, or a /bin/sh line that execs it when the path is long.)
    assert str(installed["python"]) in "\n".join(installed["easel"].read_text().splitlines()[:3])
    assert not (installed["work"] / "assets").exists()
    status, page = server["page"]
    assert status == 200
    # Gradio reads css_paths when the app launches and serves the text in the page's config.
    config = json.loads(re.search(r"window\.gradio_config = (.*?);</script>", page, re.S).group(1))
    style = (ROOT / "assets" / "style.css").read_text(encoding="utf-8")
    assert "#demo-banner" in style and style.strip() in config["css"]


def test_one_generation_through_gradio_client(installed, server):
    from gradio_client import Client

    client = Client(server["url"], verbose=False, download_files=str(installed["work"] / "downloads"))
    gallery, _, _ = client.predict(prompt="x", steps=1, api_name="/txt2img")
    picture = gallery[0]["image"]
    assert Path(picture).is_file() and picture.endswith(".png")
    assert parse_parameters(read_parameters(picture))["settings"]["Version"] == f"Easel {VERSION}"
