"""The engine, started after the page is up.

Importing torch and diffusers takes longer than starting the whole web page, and a user who opens the page
first reads and types. So the studio holds a `LazyManager`: the page is built from what is known without
torch (model names, samplers, ControlNet types from the catalog), the server starts, and then `warm_up`
imports the engine while the user types. Whatever asks the engine first (a Generate, the Models panel)
waits for that import; nothing is loaded twice.
"""

from __future__ import annotations

import threading

from .catalog import Library
from .engine_settings import EngineSettings


class LazyManager:
    """Stands in for a PipelineManager: every attribute is the real one's, which is made on first use."""

    def __init__(self, library: Library, settings: EngineSettings):
        self._arguments = (library, settings)
        self.library = library  # the same object the engine gets: the page lists and rescans it without torch
        self._manager = None
        self._making = threading.Lock()

    @property
    def started(self) -> bool:
        return self._manager is not None

    def warm_up(self) -> None:
        self._real()

    def _real(self):
        if self._manager is None:
            with self._making:
                if self._manager is None:
                    from .manager import PipelineManager  # imports torch and diffusers

                    self._manager = PipelineManager(*self._arguments)
        return self._manager

    def __getattr__(self, name):  # only for names not found on this object
        if name in ("_arguments", "_manager", "_making"):  # not set yet (a copy being made): no engine for that
            raise AttributeError(name)
        return getattr(self._real(), name)
