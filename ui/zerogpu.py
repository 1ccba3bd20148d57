"""Hugging Face ZeroGPU, the way its documentation describes it.

On ZeroGPU hardware (SPACES_ZERO_GPU=true) a Space holds a GPU only while a function marked
`@spaces.GPU` runs; elsewhere nothing here changes anything. What we follow, quoted from the Spaces
ZeroGPU documentation:

- "Decorate GPU-dependent functions with `@spaces.GPU`. This decoration process allows the Space to
  request a GPU when the function is called and release it upon completion." Every handler that
  computes on the device is marked through `on_gpu`: generation on every tab and ControlNet's "Preview
  map". What cannot be done inside such a call is refused there, by `refuse`, with a message saying why:
  the Models tab's Preload and Unload (a GPU call's worker process and its memory last only as long as
  the call). The AUTOMATIC1111-compatible API refuses to generate there with its own message (api/context.py):
  its requests come from programs and carry no visitor's GPU quota, which ZeroGPU charges each call to.
- The example loads the pipeline and calls `pipe.to('cuda')` at start, outside the decorated function:
  app.py loads the default model and places it on the device before the server starts.
- "Instead of directly passing a duration, simply pass a callable that takes the same inputs as your
  decorated function and returns a duration value", and "Specifying shorter durations for quicker
  functions will improve queue priority for Space visitors": `generation_seconds` estimates a run from
  its steps, size, batch and ControlNet units, with a floor and a cap.
- Supported versions: "Python: 3.10.13" and PyTorch releases up to 2.8.0 in its list: the README's front
  matter asks for Python 3.10, where requirements.txt pins torch 2.7.1.
- "ZeroGPU does not support `torch.compile`": server/app_settings.py turns --compile off there.

Stop: the `spaces` package runs a marked generator in a forked worker process. When the page's Stop
cancels the event, Gradio closes the generator on the server's side; `spaces` then sets a stop event and
closes the worker's generator at its next yield. The runner yields at least every 0.25 s and its `finally`
cancels the engine's run, which ends within a step. (Stop's second path, by run id, cannot reach the
worker's copy of the runner; Gradio's cancel is the one that works there.)
"""

from __future__ import annotations

import inspect
import math
from typing import Callable

from pipelines import plot_cell_count
from server.hosting import on_zerogpu

# A call's fixed costs: the worker's start and its copy of the weights to the GPU, the VAE decode, writing
# the pictures. Measured figures for an H200 slice were not available; these err on the long side, which
# costs queue priority, where too short a duration would cut a run off.
FLOOR_SECONDS = 20
CAP_SECONDS = 180  # a run estimated longer is cut at this; lower --max-steps, --max-side or --max-batch on ZeroGPU
SECONDS_PER_MEGAPIXEL_STEP = 0.25  # SDXL at 1024x1024 with guidance (two UNet passes) on a ZeroGPU slice, rounded up
CONTROLNET_SHARE = 0.5  # each ControlNet unit adds about half a UNet's work to a step
COLD_MODEL_SECONDS = 45  # a model other than the one placed at start loads from disk inside the call
MAP_SECONDS = 20  # ControlNet's "Preview map": one detector on one picture
DEFAULTS = {"steps": 30, "width": 1024, "height": 1024, "batch_size": 1}  # for a value left out or unreadable

REFUSED = ("not available on ZeroGPU hardware: there a GPU is lent to one call at a time and its memory ends with "
           "the call. The default model is placed on the GPU at start; other models load on first use.")


def active() -> bool:
    return on_zerogpu()


def on_gpu(function, seconds: Callable[[dict], float]):
    """`function`, marked for ZeroGPU when on it, with `seconds(arguments)` as its duration.

    `arguments` maps the function's parameter names to the values of one call, as the page sent them
    (raw: the engine validates them later, so the estimate never fails on a bad value).
    """
    if not active():
        return function
    import spaces  # installed on every ZeroGPU Space; imported only there

    signature = inspect.signature(function)

    def duration(*args, **kwargs) -> int:
        try:
            arguments = signature.bind_partial(*args, **kwargs).arguments
        except TypeError:
            arguments = {}
        return seconds(arguments)

    return spaces.GPU(duration=duration)(function)


def generation_seconds(arguments: dict, preloaded_model: str | None = None) -> int:
    """Seconds of GPU a generation needs: steps x megapixels x batch, plus ControlNets, a cold model, a floor."""
    steps = _number(arguments.get("steps"), DEFAULTS["steps"])
    width, height = _number(arguments.get("width"), DEFAULTS["width"]), _number(arguments.get("height"),
                                                                                 DEFAULTS["height"])
    # Outpaint's canvas: its picture's size (the hidden size sliders follow the upload) and the pixels added
    width += _number(arguments.get("left"), 0) + _number(arguments.get("right"), 0)
    height += _number(arguments.get("up"), 0) + _number(arguments.get("down"), 0)
    batch = _number(arguments.get("batch_size"), DEFAULTS["batch_size"]) * _number(arguments.get("batch_count"), 1)
    # an X/Y/Z plot makes the batch once per cell (the page sends axis names, so the tab does not matter)
    batch *= plot_cell_count([(arguments.get(f"{axis}_type"), arguments.get(f"{axis}_values")) for axis in "xyz"],
                             "txt2img")
    units = bool(arguments.get("control_type")) + bool(arguments.get("enable_unit_2") and arguments.get("control_type_2"))
    work = steps * batch * width * height / 2**20 * SECONDS_PER_MEGAPIXEL_STEP * (1 + CONTROLNET_SHARE * units)
    if arguments.get("adetailer"):  # a pass per face, at the detailer's strength: about half a picture more
        work *= 1.5
    model = arguments.get("model")
    cold = COLD_MODEL_SECONDS if model and model != preloaded_model else 0
    return int(min(CAP_SECONDS, math.ceil(FLOOR_SECONDS + cold + work)))


def map_seconds(_arguments: dict) -> int:
    return MAP_SECONDS


def refuse(what: str) -> None:
    """Raise the message that `what` cannot be done on ZeroGPU, when on it."""
    if active():
        import gradio as gr

        raise gr.Error(f"{what} is {REFUSED}", title="Not on ZeroGPU")


def _number(value, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) and number > 0 else default
