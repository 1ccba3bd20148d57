"""The "Refiner" panel of Text to image and Image to image: A1111's refiner, for SDXL models.

Its widgets are the handler's inputs by A1111's API names (refiner_checkpoint, refiner_switch_at), so the Gradio
API takes the same fields as /sdapi/v1/txt2img; PNG Info's "send to" sets them from `Refiner` and `Refiner
switch at` in a picture's parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from pipelines import parse_parameters

FIELDS = ("refiner_checkpoint", "refiner_switch_at")
NONE = "None"  # A1111's choice for no refiner
SWITCH_AT = 0.8  # A1111's default


@dataclass
class RefinerPanel:
    widgets: dict

    def inputs(self) -> list:
        return [self.widgets[name] for name in FIELDS]


def choices(info) -> list:
    """No refiner, then the SDXL models and refiners (by their label, which names the family; a hub model whose
    family is not known until it is downloaded is listed too)."""
    entries = [entry if isinstance(entry, tuple) else (entry, entry) for entry in info.model_choices]
    return [(NONE, NONE), *((label, name) for label, name in entries if label.startswith("SDXL") or label == name)]


def panel(tab: str, info) -> RefinerPanel:
    with gr.Accordion("Refiner", open=False, elem_id=f"{tab}-refiner"):
        checkpoint = gr.Dropdown(choices(info), value=NONE, label="Refiner", elem_id=f"{tab}-refiner-checkpoint",
                                 info="SDXL: an SDXL refiner (or SDXL model) makes the last steps")
        switch_at = gr.Slider(0.01, 1.0, value=SWITCH_AT, step=0.01, label="Switch at",
                              elem_id=f"{tab}-refiner-switch-at",
                              info="The share of the denoising the model does before the refiner takes over")
    return RefinerPanel({"refiner_checkpoint": checkpoint, "refiner_switch_at": switch_at})


def values_from(text: str, models: list[str]) -> list:
    """The panel's values for a picture's parameters: its refiner (A1111 writes `name [hash]`) and switch."""
    settings = parse_parameters(text or "").get("settings", {})
    written = settings.get("Refiner")
    if not written:
        return [NONE, SWITCH_AT]
    name = written.rsplit(" [", 1)[0] if written.endswith("]") else written
    try:
        switch = float(settings.get("Refiner switch at", SWITCH_AT))
    except ValueError:
        switch = SWITCH_AT
    return [name if name in models else gr.skip(), switch]


def refiner_of(checkpoint) -> str | None:
    return None if checkpoint in (None, "", NONE) else checkpoint
