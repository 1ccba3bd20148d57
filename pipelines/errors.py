"""Errors the engine reports to front ends. Kept free of torch so the UI can catch them by type."""

from __future__ import annotations

from .request import GenerationCancelled, InvalidRequest  # noqa: F401 - re-exported: every engine error in one place


class ModelLoadError(RuntimeError):
    """A model could not be loaded. The message names it and says what the user can do."""

    def __init__(self, model: str, message: str):
        self.model = model
        super().__init__(f"{model}: {message}")


class OutOfMemory(RuntimeError):
    """Even the most frugal mode did not fit; the message says what to lower."""
