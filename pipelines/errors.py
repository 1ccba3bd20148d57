"""Errors the engine reports to front ends. Kept free of torch so the UI can catch them by type."""

from __future__ import annotations


class InvalidRequest(ValueError):
    """A request field has a value the engine cannot use. `field` names it; the message says why."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        self.detail = message  # the message without the field's name, for a front end that names it its own way
        super().__init__(f"{field_name}: {message}")


class GenerationCancelled(Exception):
    """The user pressed Stop; the run ended after the step in progress."""


class ModelLoadError(RuntimeError):
    """A model could not be loaded. The message names it and says what the user can do."""

    def __init__(self, model: str, message: str):
        self.model = model
        super().__init__(f"{model}: {message}")


class OutOfMemory(RuntimeError):
    """Even the most frugal mode did not fit; the message says what to lower."""
