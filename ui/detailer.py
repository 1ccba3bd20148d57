"""The "Faces" panel of Text to image and Image to image: A1111's Restore faces, and ADetailer's first tab with its
names and defaults.

Its widgets are the handlers' inputs by ADetailer's field names (ad_model, ad_denoising_strength, ...), so the
Gradio API takes what ADetailer's API takes; more units, and the rest of its fields, come through the A1111 API.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from pipelines import DETAILER_MODELS, Detailer, DetailerUnit, parse_parameters

from .common import given

FIELDS = ("adetailer", "ad_model", "ad_prompt", "ad_negative_prompt", "ad_confidence", "ad_denoising_strength",
          "ad_mask_blur", "ad_dilate_erode", "ad_inpaint_only_masked", "ad_inpaint_only_masked_padding")
SKIP_FIELD = "ad_skip_img2img"
RESTORE_FIELD = "restore_faces"  # the face restorer, by name; "None": off


@dataclass
class DetailerPanel:
    widgets: dict  # field name -> widget: FIELDS, the restorer, and the skip on Image to image

    def inputs(self) -> list:
        return list(self.widgets.values())


def panel(tab: str, info, with_skip: bool = False) -> DetailerPanel:
    with gr.Accordion("Faces: restore, detail (ADetailer)", open=False, elem_id=f"{tab}-detailer"):
        restore = gr.Dropdown(["None", *info.face_restorers], value="None", label="Restore faces",
                              elem_id=f"{tab}-restore-faces",
                              info="A1111's: each face redrawn by a restorer (models/GFPGAN, models/Codeformer), "
                                   "before the detailer")
        enable = gr.Checkbox(False, label="Enable: find the faces in each picture and redraw them larger",
                             elem_id=f"{tab}-adetailer")
        with gr.Row():
            model = gr.Dropdown(list(DETAILER_MODELS), value=DETAILER_MODELS[0], label="Detector",
                                elem_id=f"{tab}-ad-model", info="What to find")
            confidence = gr.Slider(0, 1, value=0.3, step=0.01, label="Confidence", elem_id=f"{tab}-ad-confidence",
                                   info="Higher finds fewer, surer faces")
            strength = gr.Slider(0.01, 1, value=0.4, step=0.01, label="Denoising strength",
                                 elem_id=f"{tab}-ad-denoising", info="How much each face is redrawn")
        with gr.Row():
            prompt = gr.Textbox(label="Detailer prompt", lines=2, placeholder="Empty: the prompt",
                                elem_id=f"{tab}-ad-prompt", info="[SEP] gives each face its own; [PROMPT] is the prompt")
            negative = gr.Textbox(label="Detailer negative prompt", lines=2, placeholder="Empty: the negative prompt",
                                  elem_id=f"{tab}-ad-negative")
        with gr.Row():
            blur = gr.Slider(0, 64, value=4, step=1, label="Mask blur", elem_id=f"{tab}-ad-mask-blur")
            dilate = gr.Slider(-128, 128, value=4, step=4, label="Mask grow (erode if negative)",
                               elem_id=f"{tab}-ad-dilate")
            padding = gr.Slider(0, 256, value=32, step=4, label="Padding around each face",
                                elem_id=f"{tab}-ad-padding")
        only_masked = gr.Checkbox(True, label="Only the face, at full resolution", elem_id=f"{tab}-ad-only-masked",
                                  info="Off: the whole picture is redrawn where the face is")
        widgets = dict(zip(FIELDS, (enable, model, prompt, negative, confidence, strength, blur, dilate, only_masked,
                                    padding)))
        if with_skip:
            widgets[SKIP_FIELD] = gr.Checkbox(False, label="Skip image to image: detail the starting picture as it is",
                                              elem_id=f"{tab}-ad-skip")
        widgets[RESTORE_FIELD] = restore  # last, after the skip: the handlers take them in this order
    return DetailerPanel(widgets)


def detailer_request(adetailer=None, ad_model=None, ad_prompt=None, ad_negative_prompt=None, ad_confidence=None,
                     ad_denoising_strength=None, ad_mask_blur=None, ad_dilate_erode=None, ad_inpaint_only_masked=None,
                     ad_inpaint_only_masked_padding=None, ad_skip_img2img=None) -> Detailer | None:
    """The request's detailer from the panel's values (raw: the engine's validation judges them), or None."""
    if not adetailer:
        return None
    unit = DetailerUnit(**given(model=ad_model, prompt=ad_prompt, negative_prompt=ad_negative_prompt,
                                confidence=ad_confidence, denoising_strength=ad_denoising_strength,
                                mask_blur=ad_mask_blur, dilate_erode=ad_dilate_erode,
                                inpaint_only_masked=ad_inpaint_only_masked,
                                inpaint_only_masked_padding=ad_inpaint_only_masked_padding))
    return Detailer(units=[unit], skip_img2img=bool(ad_skip_img2img))


# the panel's fields -> ADetailer's infotext names, and how to read each back
_FROM_INFOTEXT = {"ad_model": ("ADetailer model", str), "ad_prompt": ("ADetailer prompt", str),
                  "ad_negative_prompt": ("ADetailer negative prompt", str),
                  "ad_confidence": ("ADetailer confidence", float),
                  "ad_denoising_strength": ("ADetailer denoising strength", float),
                  "ad_mask_blur": ("ADetailer mask blur", int), "ad_dilate_erode": ("ADetailer dilate erode", int),
                  "ad_inpaint_only_masked": ("ADetailer inpaint only masked", lambda text: text == "True"),
                  "ad_inpaint_only_masked_padding": ("ADetailer inpaint padding", int)}
_PANEL_DEFAULTS = {"ad_prompt": "", "ad_negative_prompt": ""}  # left out of an infotext when empty


def values_from(text: str, panel: DetailerPanel, restorers: list[str], skipped: list[str]) -> list:
    """The panel's values for a picture's parameters text (PNG Info's and the gallery's "send to"): its restorer
    and its first ADetailer unit, or both off; what the panel cannot take is added to `skipped`."""
    settings = parse_parameters(text or "").get("settings", {})
    values: dict = {"adetailer": "ADetailer model" in settings, RESTORE_FIELD: "None", SKIP_FIELD: False}
    restorer = settings.get("Face restoration")
    if restorer:
        if restorer in restorers:
            values[RESTORE_FIELD] = restorer
        else:
            skipped.append(f"face restoration {restorer!r} (no such restorer here)")
    if values["adetailer"]:
        for name, (key, read) in _FROM_INFOTEXT.items():
            try:
                values[name] = read(settings[key]) if key in settings else _PANEL_DEFAULTS.get(name)
            except ValueError:  # a hand-edited file's nonsense: the panel keeps its value
                values[name] = None
        model = values.get("ad_model") or ""
        if model not in DETAILER_MODELS:  # ADetailer's face models are answered with Easel's face detector
            face = model.lower().startswith(("face_", "mediapipe_face"))
            values["ad_model"] = DETAILER_MODELS[0] if face else None
            skipped.append(f"ADetailer model {model!r} (" + (f"faces are found with {DETAILER_MODELS[0]}" if face
                                                              else "no such detector here") + ")")
        if any(key.endswith(" 2nd") for key in settings):
            skipped.append("ADetailer's second unit and beyond (the panel has one; the A1111 API takes more)")
    return [gr.skip() if values.get(name) is None else values[name] for name in panel.widgets]
