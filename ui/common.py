"""The pieces every tab shares, built once here and composed into each tab.

A tab calls `prompt_panel`, `settings_panel` and `output_panel`, then `wire` its handler: the same
widgets, the same names, the same behaviour (seed buttons, aspect presets, Stop, the GPU queue).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import gradio as gr

from pipelines import SHARED_NAMES, Engine, GenerationRequest, Limits, load_picture, parse_parameters, read_parameters
from pipelines import SHARED_BY_NAME as BY_NAME
from pipelines import shared_in_order as in_order

from . import assets, extra_networks
from .errors import guard
from .uploads import uploaded
from .zerogpu import generation_seconds, on_gpu

GPU_QUEUE = "device"  # every generation event shares this queue slot: one run on the device at a time
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
    vaes: list[str] = field(default_factory=list)  # from the model folders' VAE folder
    styles: list[str] = field(default_factory=list)  # from styles.csv
    model_labels: list[tuple[str, str]] = field(default_factory=list)  # (label with the family, name)

    @property
    def model_choices(self) -> list:
        return self.model_labels or self.models

    @property
    def vae_choices(self) -> list[str]:
        return ["Automatic", *self.vaes]  # A1111's name for "the model's own"


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
    clip_skip: gr.Slider
    vae: gr.Dropdown
    styles: gr.Dropdown
    gallery: gr.Gallery = None
    info: gr.Textbox = None
    status: gr.Markdown = None
    generate: gr.Button = None
    stop: gr.Button = None
    send: dict = None  # tab name -> "send to" button
    selected: gr.State = None  # index of the picture selected in the gallery

    def settings(self) -> list:
        """The shared inputs, in the order every handler takes them after its own (shared_settings.py's)."""
        return [getattr(self, name) for name in SHARED_NAMES]


# What the engine tells the page (EngineInfo's fields) for the settings whose default or choices are the model's.
_DEFAULT_FROM_ENGINE = {"model": "default_model", "sampler": "default_sampler", "steps": "default_steps",
                        "width": "default_size", "height": "default_size"}
_CHOICES_FROM_ENGINE = {"model": "model_choices", "sampler": "samplers", "vae": "vae_choices", "styles": "styles"}
_ELEM_NAMES = {"negative_prompt": "negative"}  # the page's element ids, which browser tests and CSS use


def shared_widget(name: str, tab: str, info: EngineInfo, **layout):
    """The widget of shared setting `name` on `tab`, as shared_settings.py declares it."""
    setting = BY_NAME[name]
    widget = setting.widget

    def bound(value):
        return getattr(info, value) if isinstance(value, str) else value

    value = setting.default if setting.default is not None else getattr(info, _DEFAULT_FROM_ENGINE[name])
    if isinstance(value, tuple):  # a multiselect's default: no choice made
        value = list(value)
    common = dict(label=setting.label, value=value, elem_id=f"{tab}-{_ELEM_NAMES.get(name, name)}",
                  **({"info": setting.info} if setting.info else {}), **widget.options, **layout)
    if widget.kind == "text":
        return gr.Textbox(**common)
    if widget.kind == "choice":
        return gr.Dropdown(getattr(info, _CHOICES_FROM_ENGINE[name]), **common)
    if widget.kind == "slider":
        return gr.Slider(bound(widget.minimum), bound(widget.maximum), step=widget.step, **common)
    return gr.Number(minimum=bound(widget.minimum), maximum=bound(widget.maximum), **common)


def prompt_panel(tab: str, info: EngineInfo) -> tuple[gr.Textbox, gr.Textbox]:
    return shared_widget("prompt", tab, info), shared_widget("negative_prompt", tab, info)


def settings_panel(tab: str, info: EngineInfo, prompt, negative, engine: Engine) -> Panels:
    def widget(name, **layout):
        return shared_widget(name, tab, info, **layout)

    shown = {"prompt": prompt, "negative_prompt": negative, "model": widget("model")}
    with gr.Row():
        shown.update((name, widget(name)) for name in ("sampler", "steps", "guidance_scale"))
    with gr.Row():
        shown.update((name, widget(name)) for name in ("width", "height"))
        aspect = gr.Dropdown(list(ASPECTS), value="1:1", label="Aspect", scale=0, min_width=90)
    with gr.Row():
        shown["seed"] = widget("seed")
        dice = gr.Button("Random", scale=0, min_width=70, elem_id=f"{tab}-random-seed")
        shown["batch_size"] = widget("batch_size")
    with gr.Row():
        shown["clip_skip"] = widget("clip_skip")
        shown["vae"] = widget("vae")
    shown["styles"] = widget("styles")
    library = engine.library
    extra_networks.panel(tab, library, prompt, negative, shown["styles"],
                         [(shown["model"], library.model_choices),
                          (shown["vae"], lambda: ["Automatic", *sorted(library.vaes())])])
    missing = set(SHARED_NAMES) - set(shown)
    assert not missing, f"the settings panel does not show {missing}"  # a new shared setting needs a place here
    aspect.change(_aspect_size, [aspect, shown["width"], shown["height"]], [shown["width"], shown["height"]],
                  api_visibility="private", queue=False)
    dice.click(lambda: -1, None, shown["seed"], api_visibility="private", queue=False)
    # A model the user picks brings its own defaults (SDXL draws at 1024, turbo models take 4 steps without
    # guidance), as A1111 and Fooocus do; `.input`, so that Send to and PNG Info keep the values they bring.
    defaults = [shown[name] for name in ("width", "height", "steps", "guidance_scale", "sampler")]
    shown["model"].input(guard(lambda model: model_defaults(engine, model)), shown["model"], defaults,
                         api_visibility="private")
    return Panels(**shown)


def model_defaults(engine: Engine, model: str) -> list:
    facts = engine.model_facts(model)
    return [facts.default_size, facts.default_size, facts.default_steps, facts.default_guidance, facts.default_sampler]


def shared_values(values: dict) -> list:
    """Values for a tab's shared settings, by name, as a list in their order; the ones not given stay as they are."""
    return [gr.skip() if value is None else value for value in in_order(values)]


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


# The page names each run it starts with an id of its own, and its Stop sends those ids, so a Stop can only end
# runs the user started from this tab, even when it reaches a busy server after the next one began.
# The id is made in the Generate click itself (PAGE_JS, a capture listener, so it runs as the click is
# dispatched): Gradio runs an event's own `js` only later, after awaits of its own, and on a loaded machine a
# Stop pressed just after Generate was seen to read the id of the run before, so the new run went on to the end.
# A click that Gradio ignores (its run is still pending) makes an id too, so Stop sends the tab's few latest ids,
# not only the newest: the server ends those that run or wait, and ids of runs long over cost nothing.
RUN_IDS_KEPT = 4
PAGE_JS = """() => {
  const newId = () => crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
  window.easelNewRunId = newId;
  window.easelRuns ??= {};
  document.addEventListener("click", (event) => {
    const button = event.target.closest?.("button[id$='-generate']");
    if (!button) return;
    const ids = (window.easelRuns[button.id] ??= []);
    ids.push(newId());
    ids.splice(0, Math.max(0, ids.length - %d));
  }, true);
}""" % RUN_IDS_KEPT
NEW_RUN_JS = """(...values) => {
  values[values.length - 1] = window.easelRuns?.[%r]?.at(-1) ?? window.easelNewRunId?.() ?? `${Date.now()}`;
  return values;
}"""
STOP_RUN_JS = "() => [(window.easelRuns?.[%r] ?? []).join(' ')]"


def wire(panels: Panels, handler, own_inputs: list, api_name: str, studio) -> None:
    """Generate on click (queued on the device slot, under its API name); Stop ends that run.

    Stop does two things, for the two places a run can be: Gradio's cancel takes a run still waiting in the
    queue out of it (and closes a running one's generator, where the page already knows the run's event),
    and `stop(run_ids)` cancels the engine runs of the ids this page gave them, whether they run yet or not.
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
        js=NEW_RUN_JS % panels.generate.elem_id,
    )
    panels.stop.click(stop, [run_id], None, js=STOP_RUN_JS % panels.generate.elem_id, api_visibility="private", queue=False,
                      cancels=[event])


EXAMPLES = str(assets.EXAMPLES)  # where the app is installed, not the current directory


def selected_picture(gallery, selected):
    if not gallery:
        return None
    item = gallery[min(selected or 0, len(gallery) - 1)]
    return item[0] if isinstance(item, (list, tuple)) else item
