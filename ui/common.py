"""The pieces every tab shares, built once here and composed into each tab.

A tab calls `prompt_panel`, `settings_panel` and `output_panel`, then `wire` its handler: the same
widgets, the same names, the same behaviour (seed buttons, aspect presets, Stop, the GPU queue).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import gradio as gr

from pipelines.metadata import parse_parameters, read_parameters
from pipelines.request import GenerationRequest, Limits, load_picture

from . import assets
from .errors import guard
from .uploads import uploaded
from .zerogpu import generation_seconds, on_gpu

GPU_QUEUE = "device"  # every generation event shares this queue slot: one run on the device at a time
MAX_SEED = 2**32 - 1
ASPECTS = {"1:1": (1, 1), "4:3": (4, 3), "3:4": (3, 4), "16:9": (16, 9), "9:16": (9, 16), "3:2": (3, 2), "2:3": (2, 3)}


@dataclass
class EngineInfo:
    """What the UI needs to know about the engine to draw its widgets (filled in by app.py)."""

    models: list[str]
    default_model: str | None
    samplers: list[str]
    control_types: list[str]
    default_sampler: str
    default_size: int
    default_steps: int
    max_steps: int
    max_batch: int
    max_side: int
    demo: bool = False


@dataclass
class Panels:
    prompt: gr.Textbox
    negative_prompt: gr.Textbox
    model: gr.Dropdown
    sampler: gr.Dropdown
    steps: gr.Slider
    guidance_scale: gr.Slider
    width: gr.Slider
    height: gr.Slider
    seed: gr.Number
    batch_size: gr.Slider
    gallery: gr.Gallery = None
    info: gr.Textbox = None
    status: gr.Markdown = None
    generate: gr.Button = None
    stop: gr.Button = None
    send: dict = None  # tab name -> "send to" button
    selected: gr.State = None  # index of the picture selected in the gallery

    def settings(self) -> list:
        """The shared inputs, in the order every handler takes them after its own."""
        return [self.prompt, self.negative_prompt, self.model, self.sampler, self.steps, self.guidance_scale,
                self.width, self.height, self.seed, self.batch_size]


def prompt_panel(tab: str) -> tuple[gr.Textbox, gr.Textbox]:
    prompt = gr.Textbox(label="Prompt", lines=3, value="", placeholder="What to paint", elem_id=f"{tab}-prompt")
    negative = gr.Textbox(label="Negative prompt", lines=2, value="", placeholder="What to avoid",
                          elem_id=f"{tab}-negative")
    return prompt, negative


def settings_panel(tab: str, info: EngineInfo, prompt, negative) -> Panels:
    model = gr.Dropdown(info.models, value=info.default_model, label="Model", elem_id=f"{tab}-model")
    with gr.Row():
        sampler = gr.Dropdown(info.samplers, value=info.default_sampler, label="Sampler")
        steps = gr.Slider(1, info.max_steps, value=info.default_steps, step=1, label="Steps", elem_id=f"{tab}-steps")
        guidance = gr.Slider(0, 30, value=7.0, step=0.5, label="Guidance (CFG scale)")
    with gr.Row():
        width = gr.Slider(64, info.max_side, value=info.default_size, step=8, label="Width", elem_id=f"{tab}-width")
        height = gr.Slider(64, info.max_side, value=info.default_size, step=8, label="Height")
        aspect = gr.Dropdown(list(ASPECTS), value="1:1", label="Aspect", scale=0, min_width=90)
    with gr.Row():
        seed = gr.Number(value=-1, precision=0, label="Seed (-1: random)", minimum=-1, maximum=MAX_SEED,
                         elem_id=f"{tab}-seed")
        dice = gr.Button("Random", scale=0, min_width=70, elem_id=f"{tab}-random-seed")
        batch = gr.Slider(1, info.max_batch, value=1, step=1, label="Batch size")
    aspect.change(_aspect_size, [aspect, width, height], [width, height], api_visibility="private", queue=False)
    dice.click(lambda: -1, None, seed, api_visibility="private", queue=False)
    return Panels(prompt, negative, model, sampler, steps, guidance, width, height, seed, batch)


def _aspect_size(aspect: str, width: float, height: float):
    """Keep the picture's area, change its shape; sides stay multiples of 8."""
    w, h = ASPECTS.get(aspect, (1, 1))
    area = float(width) * float(height)
    new_w = (area * w / h) ** 0.5
    return int(round(new_w / 8) * 8), int(round(new_w * h / w / 8) * 8)


def output_panel(tab: str, panels: Panels, send_targets: list[str]) -> Panels:
    panels.gallery = gr.Gallery(label="Pictures", format="png", columns=2, height=420, elem_id=f"{tab}-gallery",
                                buttons=["download", "fullscreen"])
    with gr.Row():
        panels.generate = gr.Button("Generate", variant="primary", elem_id=f"{tab}-generate")
        panels.stop = gr.Button("Stop", variant="stop", elem_id=f"{tab}-stop")
    reuse = gr.Button("♻ Reuse seed", size="sm")
    panels.info = gr.Textbox(label="Generation parameters", lines=3, interactive=False, elem_id=f"{tab}-info",
                             buttons=["copy"])
    panels.status = gr.Markdown("", elem_id=f"{tab}-status")
    panels.selected = gr.State(0)
    with gr.Row():
        panels.send = {target: gr.Button(f"Send to {target}", size="sm", elem_id=f"{tab}-send-{target}")
                       for target in send_targets}
    panels.gallery.select(_selected_index, None, panels.selected, api_visibility="private", queue=False)
    reuse.click(_seed_of_selected, [panels.gallery, panels.selected, panels.info], panels.seed,
                api_visibility="private", queue=False)
    return panels


def _selected_index(event: gr.SelectData) -> int:
    return event.index


def _seed_of_selected(gallery, selected, info):
    picture = selected_picture(gallery, selected)
    seed = seed_of(picture) if picture is not None else None
    if seed is None and info:
        seed = parse_parameters(info).get("seed")
    return -1 if seed is None else seed


def given(**values) -> dict:
    """The values a handler was given. A value left out (None) takes the engine's default, as it does for
    an API caller who omits it; every other value goes to the engine's validation as it came."""
    return {name: value for name, value in values.items() if value is not None}


def make_request(**values) -> GenerationRequest:
    return GenerationRequest(**given(**values))


def seed_of(picture) -> int | None:
    """The seed written in a picture's parameters, if it has any."""
    parameters = read_parameters(picture)
    return parse_parameters(parameters).get("seed") if parameters else None


def size_of(payload):
    """Width and height sliders' values for an uploaded picture: its size, down to multiples of 8."""
    if payload is None:
        return gr.skip(), gr.skip()
    picture = load_picture("image", uploaded(payload, "image"), Limits())
    return max(64, picture.width - picture.width % 8), max(64, picture.height - picture.height % 8)


def format_bytes(nbytes: int | None) -> str:
    if nbytes is None:
        return "no limit"
    return f"{nbytes / 2**30:.2f} GiB" if nbytes >= 2**28 else f"{nbytes / 2**20:.1f} MiB"


# The page names each run it starts with an id of its own, made at the click, and its Stop sends that id.
# So a Stop can only end the run the user saw, even when it reaches a busy server after the next one began.
NEW_RUN_JS = """(...values) => {
  const id = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
  (window.easelRuns ??= {})[%r] = id;
  values[values.length - 1] = id;
  return values;
}"""
STOP_RUN_JS = "() => [window.easelRuns?.[%r] ?? '']"


def wire(panels: Panels, handler, own_inputs: list, api_name: str, studio) -> None:
    """Generate on click (queued on the device slot, under its API name); Stop ends that run.

    Stop does two things, for the two places a run can be: Gradio's cancel takes a run still waiting in the
    queue out of it (and closes a running one's generator, where the page already knows the run's event),
    and `stop(run_id)` cancels the engine run of the id this page gave it, whether it runs yet or not.
    On ZeroGPU the handler runs inside a GPU call sized by the request (zerogpu.py).
    """
    history, stop = studio.history, studio.runner.stop
    run_id = gr.Textbox(visible=False)  # filled in the page at each click (NEW_RUN_JS); empty from the API
    seconds = functools.partial(generation_seconds, preloaded_model=studio.info.default_model)
    # preprocess=False: raw values reach the handler, so the engine's validation is the one judge of them
    # (see uploads.py); Gradio still refuses file paths that were not uploaded through it.
    event = panels.generate.click(
        on_gpu(guard(handler), seconds), own_inputs + panels.settings() + [history, run_id],
        [panels.gallery, panels.info, panels.status, history],
        api_name=api_name, concurrency_id=GPU_QUEUE, concurrency_limit=1, preprocess=False,
        js=NEW_RUN_JS % api_name,
    )
    panels.stop.click(stop, [run_id], None, js=STOP_RUN_JS % api_name, api_visibility="private", queue=False,
                      cancels=[event])


EXAMPLES = str(assets.EXAMPLES)  # where the app is installed, not the current directory


def selected_picture(gallery, selected):
    if not gallery:
        return None
    item = gallery[min(selected or 0, len(gallery) - 1)]
    return item[0] if isinstance(item, (list, tuple)) else item
