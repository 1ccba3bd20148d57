"""The pieces every tab shares, built once here and composed into each tab.

A tab calls `top_row` (prompts and Generate across its top), then in its left column its own inputs and
`settings_panel`, in its right column `output_panel`, then `wire`s its handler: the same
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
    upscalers: list[str] = field(default_factory=lambda: ["None", "Lanczos", "Nearest"])  # built-ins, then files
    face_restorers: list[str] = field(default_factory=list)  # GFPGAN, CodeFormer: those with a model file
    ip_adapters: list[str] = field(default_factory=list)  # the model folders' IP-Adapters, then h94's on the hub
    default_decode: str = "full"  # the engine's --decode
    decodes: list[str] = field(default_factory=lambda: ["full", "fast"])

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
    tiling: gr.Checkbox
    freeu: gr.Checkbox
    pag_scale: gr.Slider
    decode: gr.Dropdown
    feature_cache: gr.Slider
    subseed: gr.Number
    subseed_strength: gr.Slider
    seed_resize_from_w: gr.Slider
    seed_resize_from_h: gr.Slider
    batch_count: gr.Slider
    gallery: gr.Gallery = None
    info: gr.Textbox = None
    status: gr.Markdown = None
    generate: gr.Button = None
    stop: gr.Button = None
    send: dict = None  # tab name -> "send to" button
    selected: gr.State = None  # index of the picture selected in the gallery
    hires: object = None  # text to image's hires fix panel (hires.py)
    detailer: object = None  # text to image's and image to image's faces panel (detailer.py)
    plot: object = None  # text to image's and image to image's X/Y/Z plot panel (xyz_plot.py)
    refiner: object = None  # text to image's and image to image's refiner panel (refiner.py)

    def settings(self) -> list:
        """The shared inputs, in the order every handler takes them after its own (shared_settings.py's)."""
        return [getattr(self, name) for name in SHARED_NAMES]


# What the engine tells the page (EngineInfo's fields) for the settings whose default or choices are the model's.
_DEFAULT_FROM_ENGINE = {"model": "default_model", "sampler": "default_sampler", "steps": "default_steps",
                        "width": "default_size", "height": "default_size", "decode": "default_decode"}
_CHOICES_FROM_ENGINE = {"model": "model_choices", "sampler": "samplers", "vae": "vae_choices", "styles": "styles",
                        "decode": "decodes"}
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
    if widget.kind == "checkbox":
        return gr.Checkbox(**common)
    if widget.kind == "choice":
        return gr.Dropdown(getattr(info, _CHOICES_FROM_ENGINE[name]), **common)
    if widget.kind == "slider":
        return gr.Slider(bound(widget.minimum), bound(widget.maximum), step=widget.step, **common)
    return gr.Number(minimum=bound(widget.minimum), maximum=bound(widget.maximum), **common)


@dataclass
class TopRow:
    """What every tab has across its top, as in A1111 and Fooocus: the prompts, and Generate beside them."""

    prompt: gr.Textbox
    negative: gr.Textbox
    generate: gr.Button
    stop: gr.Button


def top_row(tab: str, info: EngineInfo) -> TopRow:
    """The prompt and negative prompt across the top, Generate beside them; Stop takes Generate's place while a run
    goes on (the page's `running` class on the buttons' column, set at the click: assets/page.js)."""
    with gr.Row(elem_classes="top-row", equal_height=False):
        with gr.Column(scale=5, min_width=280):
            prompt, negative = shared_widget("prompt", tab, info), shared_widget("negative_prompt", tab, info)
        with gr.Column(scale=1, min_width=140, elem_id=f"{tab}-actions", elem_classes="actions"):
            generate = gr.Button("Generate", variant="primary", elem_id=f"{tab}-generate", size="lg")
            stop = gr.Button("Stop", variant="stop", elem_id=f"{tab}-stop", size="lg")
            gr.Markdown("Ctrl+Enter generates, Escape stops", elem_classes="shortcut-hint")
    return TopRow(prompt, negative, generate, stop)


def settings_panel(tab: str, info: EngineInfo, top: TopRow, engine: Engine, sized: bool = True) -> Panels:
    """The settings every tab shares; `sized=False` hides the size, for a tab whose picture sets it (Outpaint)."""
    def widget(name, **layout):
        return shared_widget(name, tab, info, **layout)

    prompt, negative = top.prompt, top.negative
    shown = {"prompt": prompt, "negative_prompt": negative, "model": widget("model")}
    # what a transformer model (FLUX.1, SD 3) cannot do, said when it is picked; empty for the UNet families
    model_note = gr.Markdown("", elem_id=f"{tab}-model-note", elem_classes="model-note")
    with gr.Row():
        shown.update((name, widget(name)) for name in ("sampler", "steps", "guidance_scale"))
    with gr.Row(visible=sized):
        shown.update((name, widget(name)) for name in ("width", "height"))
        aspect = gr.Dropdown(list(ASPECTS), value="1:1", label="Aspect", scale=0, min_width=90,
                             info="Same area")
    with gr.Row():
        shown["seed"] = widget("seed")
        dice = gr.Button("Random", scale=0, min_width=70, elem_id=f"{tab}-random-seed")
        shown["batch_size"] = widget("batch_size")
        shown["batch_count"] = widget("batch_count")
    with gr.Accordion("Variation seed", open=False, elem_id=f"{tab}-variation"):
        with gr.Row():
            shown.update((name, widget(name)) for name in ("subseed", "subseed_strength"))
        with gr.Row():
            shown.update((name, widget(name)) for name in ("seed_resize_from_w", "seed_resize_from_h"))
    with gr.Row():
        shown["clip_skip"] = widget("clip_skip")
        shown["vae"] = widget("vae")
    shown["styles"] = widget("styles")
    with gr.Accordion("Advanced", open=False, elem_id=f"{tab}-advanced"):
        with gr.Row():
            shown.update((name, widget(name)) for name in ("tiling", "freeu"))
            shown["pag_scale"] = widget("pag_scale", scale=2)
        with gr.Row():
            shown.update((name, widget(name)) for name in ("decode", "feature_cache"))
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
    shown["model"].input(guard(lambda model: model_defaults(engine, model)), shown["model"], [*defaults, model_note],
                         api_visibility="private")
    return Panels(**shown, generate=top.generate, stop=top.stop)


def model_defaults(engine: Engine, model: str) -> list:
    """The model's defaults for the size, steps, guidance (under the family's name for it) and sampler, and its note."""
    facts = engine.model_facts(model)
    guidance = gr.update(value=facts.default_guidance, label=f"Guidance ({facts.guidance_label})",
                         maximum=facts.max_guidance)
    return [facts.default_size, facts.default_size, facts.default_steps, guidance, facts.default_sampler, facts.note]


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
    panels.gallery = gr.Gallery(label="Pictures", format="png", columns=2, height=460, elem_id=f"{tab}-gallery",
                                buttons=["download", "fullscreen"], interactive=False)
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


def size_of(payload, max_side: int | None = None, quiet: bool = False):
    """Width and height sliders' values for an uploaded picture: its size, down to multiples of 8 and scaled
    down to `max_side` (the engine's limit) if larger, with a note saying what was set."""
    if payload is None:
        return gr.skip(), gr.skip()
    picture = load_picture("image", uploaded(payload, "image"), Limits())
    width, height = picture.width, picture.height
    scale = min(1.0, (max_side or max(width, height)) / max(width, height))
    width, height = (max(64, int(side * scale) - int(side * scale) % 8) for side in (width, height))
    shrunk = f", scaled down to the limit of {max_side} pixels" if scale < 1 else ""
    if not quiet:
        gr.Info(f"Size set from the picture: {width}×{height}{shrunk}.")
    return width, height


def format_bytes(nbytes: int | None) -> str:
    if nbytes is None:
        return "no limit"
    return f"{nbytes / 2**30:.2f} GiB" if nbytes >= 2**28 else f"{nbytes / 2**20:.1f} MiB"


# The page names each run it starts with an id of its own, and its Stop sends those ids, so a Stop can only end
# runs the user started from this tab, even when it reaches a busy server after the next one began. The ids are
# made in the Generate click itself (assets/page.js says why); the Generate event takes the newest, the Stop
# sends the tab's few latest: the server ends those that run or wait, and ids of runs long over cost nothing.
NEW_RUN_JS = """(...values) => {
  values[values.length - 1] = window.easelRuns?.[%r]?.at(-1) ?? window.easelNewRunId?.() ?? `${Date.now()}`;
  return values;
}"""
STOP_RUN_JS = "() => { window.easelRunEnded?.(%r); return [(window.easelRuns?.[%r] ?? []).join(' ')]; }"
RUN_ENDED_JS = "() => window.easelRunEnded?.(%r)"
STOPPED = "Stopped."  # the status line after a Stop, the only place it is said


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
        show_progress_on=[panels.gallery],  # one progress bar, over the pictures, not one per output
    )
    # Generate comes back in Stop's place, however the run ended (Gradio's `then` does not follow a failure)
    event.then(None, js=RUN_ENDED_JS % api_name)
    event.failure(None, js=RUN_ENDED_JS % api_name)
    # After a Stop the tab shows its last finished pictures again, not the half-denoised preview, and says so.
    finished = gr.State([])
    event.success(lambda pictures: pictures, panels.gallery, finished, api_visibility="private", queue=False)

    def stop_and_show(run_ids, pictures):
        stop(run_ids)
        return pictures or [], STOPPED

    panels.stop.click(stop_and_show, [run_id, finished], [panels.gallery, panels.status],
                      js=STOP_RUN_JS % (api_name, panels.generate.elem_id), api_visibility="private", queue=False,
                      cancels=[event])


EXAMPLES = str(assets.EXAMPLES)  # where the app is installed, not the current directory


def selected_picture(gallery, selected):
    if not gallery:
        return None
    item = gallery[min(selected or 0, len(gallery) - 1)]
    return item[0] if isinstance(item, (list, tuple)) else item
