"""What users see when something goes wrong: a message that names the field, never a stack trace."""

from __future__ import annotations

import functools
import inspect
import logging

import gradio as gr

from pipelines import SHARED_BY_NAME, GenerationCancelled, InvalidRequest, ModelLoadError, OutOfMemory

log = logging.getLogger(__name__)


# The page's labels of the fields that are not shared settings (those carry their own, shared_settings.py).
_LABELS = {"image": "Starting picture", "mask": "Mask", "control_image": "Control picture",
           "control_image_2": "Control picture (unit 2)", "strength": "Strength", "mask_blur": "Mask blur",
           "control_units": "ControlNet units", "control_type": "Control type", "preprocessor": "Preprocessor"}


def label_of(field: str) -> str:
    """The label a field has in the page: "seed" is "Seed (-1: random)", control_units[1].image is unit 2's picture."""
    if field.startswith("control_units["):
        index, _, rest = field[len("control_units["):].partition("]")
        parts = rest.lstrip(".").split(".")
        inner = parts[-1] if parts[0] == "preprocessor_params" else parts[0] or "control_type"
        number = int(index) + 1 if index.isdigit() else index
        return f"ControlNet unit {number}: {_UNIT_LABELS.get(inner, label_of(inner))}"
    setting = SHARED_BY_NAME.get(field)
    return setting.label if setting else _LABELS.get(field, field.replace("_", " ").capitalize())


_UNIT_LABELS = {"image": "Control picture", "low_threshold": "Canny low threshold",
                "high_threshold": "Canny high threshold", "conditioning_scale": "Conditioning scale"}


def user_error(error: BaseException) -> Exception:
    """Turn an engine error into the message the user sees; anything unexpected is logged and summarised."""
    if isinstance(error, GenerationCancelled):
        return gr.Error("Stopped.", title="Stopped", print_exception=False)
    if isinstance(error, InvalidRequest):  # titled with the label the user sees; the message keeps the API's name
        return gr.Error(str(error), title=label_of(error.field), print_exception=False)
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
