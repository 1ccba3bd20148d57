"""Extras: a picture upscaled, its faces restored and its colours adjusted, as A1111's Extras tab does.

The picture keeps its parameters, with A1111's "Postprocess upscale by", "Postprocess upscaler", "GFPGAN
visibility", ... added, so PNG Info still reads how it was made; its record names the picture it came from.
Upscaling and face restoration run models on the device queue, like a generation. The filters are one last,
non-destructive step: the picture before them is kept, and moving a filter slider applies the filters to it
again without running any model, so settings can be tried freely. The slider on the right shows before and after.
"""

from __future__ import annotations

import html
from pathlib import Path

import gradio as gr

from pipelines import ExtrasRequest, FILTER_LIMITS, FILTERS

from .common import GPU_QUEUE
from .errors import guard
from .gallery import owner_of
from .uploads import uploaded
from .zerogpu import on_gpu

TAB = "extras"
UPSCALE_SECONDS = 60  # a ZeroGPU call's length: tiles of a few hundred pixels and a few faces, a second each
_FILTER_LABELS = {"brightness": "Brightness", "contrast": "Contrast", "saturation": "Saturation",
                  "sharpness": "Sharpness", "grain": "Film grain"}


def create(studio):
    names, restorers = studio.info.upscalers, studio.info.face_restorers
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            picture = gr.Image(label="Picture", type="pil", format="png", elem_id=f"{TAB}-image")
            upscaler = gr.Dropdown(names, value=names[-1] if len(names) > 3 else "Lanczos", label="Upscaler",
                                   info="Lanczos and Nearest resample; a model (ESRGAN, SwinIR...) from your "
                                        "ESRGAN folder paints in detail; None keeps the size", elem_id=f"{TAB}-upscaler")
            scale = gr.Slider(1, 8, value=2, step=0.25, label="Upscale by", elem_id=f"{TAB}-scale",
                              info="Times the picture's size; a 4x model runs again for more than 4")
            with gr.Accordion("Upscale to a size instead", open=False):
                with gr.Row():
                    width = gr.Number(0, label="Width", precision=0, minimum=0, elem_id=f"{TAB}-width",
                                      info="0: upscale by the factor above")
                    height = gr.Number(0, label="Height", precision=0, minimum=0, elem_id=f"{TAB}-height")
                crop = gr.Checkbox(True, label="Crop to fit", elem_id=f"{TAB}-crop",
                                   info="Cut to exactly this size around the centre; otherwise keep the shape")
            with gr.Accordion("Blend in a second upscaler", open=False):
                upscaler_2 = gr.Dropdown(names, value="None", label="Upscaler 2", elem_id=f"{TAB}-upscaler-2")
                visibility_2 = gr.Slider(0, 1, value=0, step=0.05, label="Upscaler 2 visibility",
                                         info="How much of the second upscaler's picture shows (A1111's Extras)")
            with gr.Accordion("Face restoration", open=bool(restorers), elem_id=f"{TAB}-faces"):
                gr.Markdown(_restorers_note(restorers), elem_classes=["field-note"])
                gfpgan = gr.Slider(0, 1, value=0, step=0.05, label="GFPGAN visibility", elem_id=f"{TAB}-gfpgan",
                                   interactive="GFPGAN" in restorers, info="0: off; 1: the restored faces alone")
                codeformer = gr.Slider(0, 1, value=0, step=0.05, label="CodeFormer visibility",
                                       elem_id=f"{TAB}-codeformer", interactive="CodeFormer" in restorers)
                codeformer_weight = gr.Slider(0, 1, value=0.5, step=0.05, label="CodeFormer weight",
                                              elem_id=f"{TAB}-codeformer-weight", interactive="CodeFormer" in restorers,
                                              info="0 = maximum effect, 1 = minimum effect")
            with gr.Accordion("Filters", open=False, elem_id=f"{TAB}-filters"):
                gr.Markdown("Applied last, to the picture above; moving a slider applies them again at once.",
                            elem_classes=["field-note"])
                filters = [gr.Slider(*FILTER_LIMITS[name], value=neutral, step=0.05, label=_FILTER_LABELS[name],
                                     elem_id=f"{TAB}-{name}") for name, neutral in FILTERS.items()]
                reset = gr.Button("Reset filters", size="sm", elem_id=f"{TAB}-reset-filters")
            run = gr.Button("Run", variant="primary", elem_id=f"{TAB}-run")
        with gr.Column(scale=1, min_width=320):
            compare = gr.ImageSlider(label="Before / after", type="filepath", format="png", interactive=False,
                                     elem_id=f"{TAB}-result", buttons=["download", "fullscreen"])
            notes = gr.Markdown(elem_id=f"{TAB}-notes")
            parameters = gr.Textbox(label="Parameters", lines=3, interactive=False, elem_id=f"{TAB}-info",
                                    buttons=["copy"])
    kept = gr.State(None)  # {"before": the upload, "unfiltered": the picture before the filters}, as paths

    def finish(image=None, upscaler=None, scale=None, width=None, height=None, crop=True, upscaler_2=None,
               visibility_2=None, gfpgan_visibility=None, codeformer_visibility=None, codeformer_weight=None,
               brightness=None, contrast=None, saturation=None, sharpness=None, grain=None, request: gr.Request = None):
        original = uploaded(image, "image")
        resize_to = (width, height) if (width or height) else None
        first = studio.manager.postprocess(ExtrasRequest(
            image=original, upscaler=upscaler, scale=scale, resize_to=resize_to, crop=bool(crop), upscaler_2=upscaler_2,
            upscaler_2_visibility=visibility_2 or 0.0, gfpgan_visibility=gfpgan_visibility or 0.0,
            codeformer_visibility=codeformer_visibility or 0.0, codeformer_weight=codeformer_weight))
        owner = owner_of(request)
        asked = _filters((brightness, contrast, saturation, sharpness, grain))
        if _only_filters(first) and asked:  # nothing before the filters: they apply to the upload itself
            unfiltered = original
        else:
            unfiltered = _keep(first, owner).path
        before = original if isinstance(original, str) else unfiltered
        state = {"before": before, "unfiltered": unfiltered}
        if not asked:
            return (before, unfiltered), _notes(first), first.infotexts[0], state
        return (*_filtered(state, asked, owner), state)

    def refilter(state, brightness=None, contrast=None, saturation=None, sharpness=None, grain=None,
                 request: gr.Request = None):
        if not state:  # nothing has been run yet: the sliders are read when it is
            return gr.skip(), gr.skip(), gr.skip()
        return _filtered(state, _filters((brightness, contrast, saturation, sharpness, grain)), owner_of(request))

    def _filtered(state, asked, owner):
        made = studio.manager.postprocess(ExtrasRequest(image=state["unfiltered"], upscaler="None", filters=asked))
        if not asked:  # back to neutral: the picture before the filters, as it was
            return (state["before"], state["unfiltered"]), "", made.infotexts[0]
        return (state["before"], _keep(made, owner).path), _notes(made), made.infotexts[0]

    def _keep(result, owner):
        made = result.images[0]
        return studio.runner.keep(result, f"extras-{made.width}x{made.height}.png", owner)

    inputs = [picture, upscaler, scale, width, height, crop, upscaler_2, visibility_2, gfpgan, codeformer,
              codeformer_weight, *filters]
    run.click(on_gpu(guard(finish), lambda arguments: UPSCALE_SECONDS), inputs, [compare, notes, parameters, kept],
              api_name="extras", concurrency_id=GPU_QUEUE, concurrency_limit=1, preprocess=False)
    for slider in filters:
        # on what the user sets (a drag, a typed number), not on Reset's own changes; only the latest one runs
        slider.input(guard(refilter), [kept, *filters], [compare, notes, parameters], api_name=False,
                     concurrency_limit=None, preprocess=False, show_progress="hidden", trigger_mode="always_last")
    reset.click(lambda: [neutral for neutral in FILTERS.values()], None, filters, api_name=False).then(
        guard(refilter), [kept, *filters], [compare, notes, parameters], api_name=False, preprocess=False)


def _filters(amounts) -> dict:
    """The filter sliders' values (in FILTERS' order) that change the picture, by name."""
    return {name: value for (name, neutral), value in zip(FILTERS.items(), amounts)
            if value is not None and value != neutral}


def _only_filters(result) -> bool:
    """The first step did nothing (no upscaler, no face restorer): the filters alone are what is asked."""
    return result.parameters.get("upscaler") == "None" and not any(
        result.parameters.get(field) for field in ("gfpgan_visibility", "codeformer_visibility"))


def _notes(result) -> str:
    """What could not be done, next to the picture (and as a toast)."""
    for note in result.warnings:
        gr.Warning(note)
    return "\n\n".join(f"⚠ {html.escape(note, quote=False)}" for note in result.warnings)


def _restorers_note(restorers: list[str]) -> str:
    if not restorers:
        return ("No face restorer found: put GFPGANv1.4.pth in `models/GFPGAN/` (or a CodeFormer file in "
                "`models/Codeformer/`) of a `--models-dir` folder.")
    return f"Found: {', '.join(restorers)}. Faces are found in the picture, redrawn, and pasted back."
