"""The studio launched inside the test process, so a test can reach into its engine to inject faults."""

from __future__ import annotations

import os
from contextlib import contextmanager
from types import SimpleNamespace

from tests.app_server import free_port


@contextmanager
def live_app(tiny_dir, outputs, **overrides):
    import app
    from pipelines.engine_settings import EngineSettings
    from server.app_settings import AppSettings

    settings = AppSettings(models=str(tiny_dir / "models.yaml"), port=free_port(),
                           outputs=str(outputs) if outputs else None,
                           engine=EngineSettings(device=os.environ.get("EASEL_TEST_DEVICE", "cpu")), **overrides)
    demo, manager = app.start(settings, quiet=True)
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{settings.port}/", manager=manager, demo=demo, outputs=outputs)
    finally:
        demo.close()
