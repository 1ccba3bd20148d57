"""The "Image prompt (IP-Adapter)" panel of Text to image, Image to image, Inpaint and ControlNet: up to two
reference pictures, each with its weight and its mode (the whole picture, or InstantStyle's style only or
composition only), through one IP-Adapter (Automatic: the first the library has for the model's family).

Its widgets are the handlers' inputs by name (ip_adapter, ip_image, ip_weight, ip_mode, ip_image_2, ...), so the
Gradio API takes them as the page sends them.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from pipelines import IMAGE_PROMPT_MODES, ImagePrompt

from .uploads import uploaded

FIELDS = ("ip_adapter", "ip_image", "ip_weight", "ip_mode", "ip_image_2", "ip_weight_2", "ip_mode_2")
AUTOMATIC = "Automatic"
MODE_LABELS = [("Whole picture", "full"), ("Style only", "style"), ("Composition only", "composition")]
assert [value for _, value in MODE_LABELS] == list(IMAGE_PROMPT_MODES)


@dataclass
class ImagePromptPanel:
    widgets: dict

    def inputs(self) -> list:
        return [self.widgets[name] for name in FIELDS]


def panel(tab: str, info) -> ImagePromptPanel:
    widgets = {}
    with gr.Accordion("Image prompt (IP-Adapter)", open=False, elem_id=f"{tab}-image-prompt"):
        widgets["ip_adapter"] = gr.Dropdown([AUTOMATIC, *info.ip_adapters], value=AUTOMATIC, label="IP-Adapter",
                                            elem_id=f"{tab}-ip-adapter",
                                            info="Automatic: the first one for the model's family")
        for suffix, label in (("", "Reference picture"), ("_2", "Second reference picture")):
            number = suffix.strip("_") or "1"
            with gr.Row():
                widgets[f"ip_image{suffix}"] = gr.Image(label=label, type="pil", format="png", height=160,
                                                        elem_id=f"{tab}-ip-image-{number}")
                with gr.Column():
                    widgets[f"ip_weight{suffix}"] = gr.Slider(0, 2, value=1.0, step=0.05, label="Weight",
                                                              elem_id=f"{tab}-ip-weight-{number}",
                                                              info="0: no effect; 1: as the adapter was trained")
                    widgets[f"ip_mode{suffix}"] = gr.Radio(MODE_LABELS, value="full", label="Take from it",
                                                           elem_id=f"{tab}-ip-mode-{number}")
    return ImagePromptPanel(widgets)


def image_prompts(ip_adapter=None, ip_image=None, ip_weight=None, ip_mode=None, ip_image_2=None, ip_weight_2=None,
                  ip_mode_2=None) -> list[ImagePrompt]:
    """The engine's reference pictures: those given (an empty slot is no reference), through the chosen adapter."""
    model = None if ip_adapter in (None, "", AUTOMATIC) else ip_adapter
    units = []
    for field, image, weight, mode in (("ip_image", ip_image, ip_weight, ip_mode),
                                       ("ip_image_2", ip_image_2, ip_weight_2, ip_mode_2)):
        if image is not None:  # the upload as the page sends it: the engine decodes and checks it
            units.append(ImagePrompt(image=uploaded(image, field), weight=1.0 if weight is None else weight,
                                     mode=mode or "full", model=model))
    return units
