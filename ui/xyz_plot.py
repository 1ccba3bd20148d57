"""The "X/Y/Z plot" panel of Text to image and Image to image: A1111's script, with its axis names and value
syntax. Choosing an X type turns the plot on; Generate then makes one picture per cell and a labelled grid,
shown first in the gallery and saved with the pictures.

Its widgets are the handler's inputs by the names of A1111's script controls (x_type, x_values, ...), so
gradio_client callers plot by naming them.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from pipelines import Plot, PlotAxis, parse_parameters, plot_axes

FIELDS = ("x_type", "x_values", "y_type", "y_values", "z_type", "z_values", "draw_legend")
NOTHING = "Nothing"
# what each axis' values look like, as the values box says once its type is chosen
EXAMPLES = {
    "Seed": "1, 2, 3 (or -1: one random seed)", "Var. seed": "1, 2, 3", "Var. strength": "0-0.5 [3]",
    "Steps": "10-30 (+10): 10, 20, 30", "Hires steps": "0, 10, 20", "CFG Scale": "3-9 [4]: four from 3 to 9",
    "Prompt S/R": "the first is replaced by each: cat, dog, fox", "Prompt order": "the words to reorder: red, cat",
    "Clip skip": "1, 2", "Denoising": "0.3-0.7 [3]", "Size": "512x512, 512x768", "LoRA weight": "0-1 [3]",
    "Face restore": "False, GFPGAN, CodeFormer",
}
CHOICES = {"Sampler": "samplers", "Hires sampler": "samplers", "Checkpoint name": "models", "VAE": "vaes",
           "Hires upscaler": "upscalers", "Styles": "styles"}


@dataclass
class PlotPanel:
    widgets: dict  # field name -> widget, in FIELDS' order

    def inputs(self) -> list:
        return [self.widgets[name] for name in FIELDS]


def plot_request(x_type=None, x_values=None, y_type=None, y_values=None, z_type=None, z_values=None,
                 draw_legend=True) -> Plot | None:
    """The engine's Plot, or None while no axis is chosen (the plot is off)."""
    axes = [(x_type, x_values), (y_type, y_values), (z_type, z_values)]
    if all(kind in (None, "", NOTHING) for kind, _ in axes):
        return None
    return Plot(*(PlotAxis(kind or NOTHING, values or "") for kind, values in axes),
                draw_legend=True if draw_legend is None else bool(draw_legend))


def values_from(text: str) -> list:
    """The panel's values for a picture's parameters (PNG Info's and the gallery's "send to"): a grid's axes,
    as A1111's infotext names them, so the plot is made again; any other picture turns the plot off."""
    settings = parse_parameters(text or "").get("settings", {})
    values = []
    for name in "XYZ":
        kind = settings.get(f"{name} Type", NOTHING)
        values += [kind, settings.get(f"{name} Values", "") if kind != NOTHING else ""]
    return [*values, True]


def values_hint(kind: str, info) -> str:
    if kind in (None, "", NOTHING):
        return "Choose a type first"
    if kind in CHOICES:
        names = list(getattr(info, CHOICES[kind], []) or [])
        return "Names separated by commas: " + ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"e.g. {EXAMPLES.get(kind, '1, 2, 3')}"


def panel(tab: str, info) -> PlotPanel:
    task = "txt2img" if tab == "txt2img" else "img2img"
    axes = plot_axes(task)
    widgets = {}
    with gr.Accordion("X/Y/Z plot", open=False, elem_id=f"{tab}-xyz"):
        gr.Markdown("Choose what each axis changes: Generate makes a picture per cell and a grid of them "
                    "(A1111's value syntax: `10-30 (+10)`, `1-9 [5]`).", elem_id=f"{tab}-xyz-help")
        for name in "xyz":
            with gr.Row():
                kind = gr.Dropdown(axes, value=NOTHING, label=f"{name.upper()} type", elem_id=f"{tab}-{name}-type",
                                   scale=1)
                values = gr.Textbox(label=f"{name.upper()} values", elem_id=f"{tab}-{name}-values", scale=2,
                                    placeholder=values_hint(NOTHING, info))
            kind.change(lambda chosen: gr.update(placeholder=values_hint(chosen, info)), kind, values,
                        api_visibility="private", queue=False, show_progress="hidden")
            widgets[f"{name}_type"], widgets[f"{name}_values"] = kind, values
        widgets["draw_legend"] = gr.Checkbox(True, label="Draw legend", elem_id=f"{tab}-xyz-legend")
    return PlotPanel(widgets)
