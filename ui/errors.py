"""What users see when something goes wrong: a message that names the field, never a stack trace."""

from __future__ import annotations

import functools
import inspect
import logging

import gradio as gr

from pipelines import GenerationCancelled, InvalidRequest, ModelLoadError, OutOfMemory

log = logging.getLogger(__name__)


def user_error(error: BaseException) -> Exception:
    """Turn an engine error into the message the user sees; anything unexpected is logged and summarised."""
    if isinstance(error, GenerationCancelled):
        return gr.Error("Stopped.", title="Stopped", print_exception=False)
    if isinstance(error, InvalidRequest):
        return gr.Error(str(error), title=f"Check {error.field}", print_exception=False)
    if isinstance(error, (ModelLoadError, OutOfMemory)):
        return gr.Error(str(error), title="Could not generate", print_exception=False)
    log.error("generation failed", exc_info=error)
    return gr.Error(f"Generation failed: {type(error).__name__}: {error}", title="Could not generate")


def guard(function):
    """Wrap an event handler: a bad value becomes a message in the page naming the field, never a stack trace.

    Generation handlers are generators; errors raised while they build the request (an unreadable
    upload, a broken mask layer) are turned into the same messages as the engine's.
    """
    if inspect.isgeneratorfunction(function):
        @functools.wraps(function)
        def wrapped(*args, **kwargs):
            try:
                yield from function(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as error:  # noqa: BLE001
                raise user_error(error) from None
    else:
        @functools.wraps(function)
        def wrapped(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as error:  # noqa: BLE001
                raise user_error(error) from None

    # wraps() hands Gradio the handler's signature and annotations, from which it finds the parameters it
    # fills itself (gr.Progress, gr.Request).
    return wrapped
