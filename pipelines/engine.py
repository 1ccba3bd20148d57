"""The engine as its front ends see it: what the page (ui/) and the HTTP API (api/) call and read on the manager.

`PipelineManager` is the engine; `LazyManager` stands in for it until torch and diffusers are imported
(lazy.py). Both have what `Engine` lists, so the page and the API are typed against this and never against
either class. No torch here: the page and the API import it before the engine is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol

if TYPE_CHECKING:
    from .catalog import Library
    from .content_credentials import ContentCredentials
    from .request import CancelToken, ExtrasRequest, GenerationRequest, GenerationResult, ModelFacts, StepInfo
    from .engine_settings import EngineSettings


class Engine(Protocol):
    """The manager's face: one generation at a time on the device, models loaded on demand."""

    library: Library  # the models and ControlNets it knows
    settings: EngineSettings  # its limits among them
    busy: bool  # a run holds the device
    last_run: dict  # how the latest run went: placement mode, fallbacks, timings
    credentials: ContentCredentials | None  # what signs the pictures' Content Credentials (None: turned off)

    def samplers(self) -> list[str]: ...

    def model_names(self) -> list[str]: ...

    def model_facts(self, name: str | None) -> ModelFacts: ...

    def control_types(self, name: str | None) -> list[str]: ...

    def generate(self, request: GenerationRequest, on_step: Callable[[StepInfo], None] | None = None,
                 on_preview: Callable | None = None, cancel: CancelToken | None = None,
                 on_status: Callable[[str], None] | None = None) -> GenerationResult: ...

    def embedding_report(self, name: str | None = None) -> dict: ...

    def preprocess(self, request: GenerationRequest) -> list: ...

    def upscalers(self) -> list[str]: ...

    def face_restorers(self) -> list[str]: ...

    def postprocess(self, request: ExtrasRequest) -> GenerationResult: ...

    def preload(self, name: str | None = None, on_device: bool = False) -> None: ...

    def unload(self, name: str | None = None) -> None: ...

    def status(self) -> dict: ...


class LazyEngine(Engine, Protocol):
    """An engine made on first use (LazyManager): whether it is made yet, and a way to make it now."""

    @property
    def started(self) -> bool: ...

    def warm_up(self) -> None: ...
