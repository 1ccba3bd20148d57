"""Shared fixtures: the tiny random-weight models, written once per test run, and managers over them; and which
tests are `slow` (those that use a fixture starting the studio or a virtual environment)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the network
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

# Fixtures that start the studio (`python app.py` in a subprocess, or launched in this process) or a virtual
# environment. A test that uses one, directly or through another fixture, is `slow` (pytest.ini), in any module:
# `python -m pytest -m "not browser and not slow"` leaves it out. Modules whose every test is slow say so at their top.
SLOW_FIXTURES = {"app_server", "studio", "guarded", "exposed", "zerogpu_app", "small_queue", "installed"}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    from pipelines.tiny import write_tiny_models

    root = tmp_path_factory.mktemp("tiny-models")
    write_tiny_models(root)
    return root


@pytest.fixture(scope="session")
def library(tiny_dir):
    from pipelines.catalog import Library

    return Library.from_file(tiny_dir / "models.yaml")


@pytest.fixture(scope="session")
def manager(library):
    """One manager for the tests that only generate: loading is paid once."""
    from pipelines.manager import PipelineManager
    from pipelines.engine_settings import EngineSettings

    return PipelineManager(library, EngineSettings(device=os.environ.get("EASEL_TEST_DEVICE", "cpu")))


@pytest.fixture
def make_manager(library):
    """A fresh manager with its own settings, for tests of memory budgets and faults."""
    from pipelines.manager import PipelineManager
    from pipelines.engine_settings import EngineSettings

    def make(**settings):
        settings.setdefault("device", os.environ.get("EASEL_TEST_DEVICE", "cpu"))
        return PipelineManager(library, EngineSettings(**settings))

    return make


@pytest.fixture
def photo():
    """A real photograph (scikit-image's astronaut), cut to 64x64 like the tiny models' output."""
    from PIL import Image
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((64, 64))


@pytest.fixture
def square_mask():
    from PIL import Image

    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    return mask


@pytest.fixture(scope="session")
def app_server(tiny_dir, tmp_path_factory):
    """The studio on the tiny models, started like `python app.py --demo` (one per test run)."""
    from tests.app_server import AppServer

    server = AppServer(tiny_dir, tmp_path_factory.mktemp("outputs"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def client(app_server):
    from gradio_client import Client

    return Client(app_server.url, verbose=False, download_files=str(app_server.log.parent / "downloads"))
