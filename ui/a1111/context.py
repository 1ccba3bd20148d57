"""What every A1111 route works with: the engine, the API's options and job queue, the studio's settings."""

from __future__ import annotations

from dataclasses import dataclass

from .. import zerogpu
from .jobs import JobQueue
from .options import ApiOptions


@dataclass
class ApiContext:
    manager: object  # the studio's engine (a LazyManager: a PipelineManager once the engine is imported)
    options: ApiOptions
    jobs: JobQueue
    settings: object  # ui.settings.AppSettings

    @property
    def limits(self):
        return self.settings.engine.limits

    @property
    def outputs(self) -> str | None:
        return self.settings.outputs

    @classmethod
    def for_studio(cls, manager, settings) -> "ApiContext":
        options = ApiOptions(manager, settings.engine.limits, settings.engine.allow_custom_models,
                             settings.save_format)
        refused = zerogpu.API_REFUSED if zerogpu.active() else None
        return cls(manager, options, JobQueue(settings.queue_size, refused), settings)
