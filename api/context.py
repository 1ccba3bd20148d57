"""What every A1111 route works with: the engine, the API's options and job queue, the studio's settings."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines import Engine
from server.hosting import on_zerogpu
from server.app_settings import AppSettings

from .jobs import JobQueue
from .options import ApiOptions

# On ZeroGPU the pages generate inside GPU calls (ui/zerogpu.py); the API has none to run in.
API_REFUSED = ("The AUTOMATIC1111-compatible API cannot generate on ZeroGPU hardware: ZeroGPU lends a GPU only to "
               "requests from the page and gradio_client, which carry each visitor's GPU quota. Use gradio_client "
               "(see the README), or run Easel on dedicated GPU hardware.")


@dataclass
class ApiContext:
    manager: Engine  # the studio's engine (a LazyManager: a PipelineManager once the engine is imported)
    options: ApiOptions
    jobs: JobQueue
    settings: AppSettings

    @property
    def limits(self):
        return self.settings.engine.limits

    @property
    def outputs(self) -> str | None:
        return self.settings.outputs

    @classmethod
    def for_studio(cls, manager: Engine, settings: AppSettings) -> "ApiContext":
        options = ApiOptions(manager, settings.engine.limits, settings.engine.allow_custom_models,
                             settings.save_format)
        refused = API_REFUSED if on_zerogpu() else None
        return cls(manager, options, JobQueue(settings.queue_size, refused), settings)
