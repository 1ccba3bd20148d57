"""Text to image's "Hires. fix" panel, with A1111's controls, names and defaults.

Its widgets are the handler's inputs by A1111's API names (enable_hr, hr_upscaler, ...), so the Gradio API
takes the same fields as /sdapi/v1/txt2img; PNG Info's "send to" fills them from a picture's parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from pipelines import HIRES_LATENT_MODES, HiresFix, hires_from_infotext, hires_sizes, parse_parameters

from .common import given

SAME_SAMPLER = "Use same sampler"  # A1111's choice for "the first pass's"
FIELDS = ("enable_hr", "hr_upscaler", "hr_scale", "hr_second_pass_steps", "denoising_strength", "hr_resize_x",
          "hr_resize_y", "hr_sampler_name", "hr_prompt", "hr_negative_prompt")


@dataclass
class HiresPanel:
    widgets: dict  # field name -> widget, in FIELDS' order

    def inputs(self) -> list:
        return [self.widgets[name] for name in FIELDS]


def panel(tab: str, info, width: gr.Slider, height: gr.Slider) -> HiresPanel:
    with gr.Accordion("Hires. fix", open=False, elem_id=f"{tab}-hires"):
        enable = gr.Checkbox(False, label="Enable: draw at the size above, then again larger",
                             elem_id=f"{tab}-enable-hr")
        with gr.Row():
            upscaler = gr.Dropdown([*HIRES_LATENT_MODES, *info.upscalers], value="Latent", label="Upscaler",
                                   elem_id=f"{tab}-hr-upscaler",
                                   info="Latent: fast, needs denoising ≥ 0.5; a model upscaler keeps detail")
            steps = gr.Slider(0, info.max_steps, value=0, step=1, label="Hires steps", elem_id=f"{tab}-hr-steps",
                              info="0: as many as the first pass")
            strength = gr.Slider(0.01, 1.0, value=0.7, step=0.01, label="Denoising strength",
                                 elem_id=f"{tab}-hr-denoising", info="How much the second pass redraws")
        with gr.Row():
            scale = gr.Slider(1, 4, value=2, step=0.05, label="Upscale by", elem_id=f"{tab}-hr-scale")
            resize_x = gr.Slider(0, info.max_side, value=0, step=8, label="Resize width to", elem_id=f"{tab}-hr-resize-x",
                                 info="0: by the factor")
            resize_y = gr.Slider(0, info.max_side, value=0, step=8, label="Resize height to",
                                 elem_id=f"{tab}-hr-resize-y")
        sampler = gr.Dropdown([SAME_SAMPLER, *info.samplers], value=SAME_SAMPLER, label="Hires sampler",
                              elem_id=f"{tab}-hr-sampler")
        with gr.Row():
            prompt = gr.Textbox(label="Hires prompt", lines=2, placeholder="Empty: the prompt", elem_id=f"{tab}-hr-prompt")
            negative = gr.Textbox(label="Hires negative prompt", lines=2, placeholder="Empty: the negative prompt",
                                  elem_id=f"{tab}-hr-negative")
        size_note = gr.Markdown("", elem_id=f"{tab}-hr-size")
    widgets = dict(zip(FIELDS, (enable, upscaler, scale, steps, strength, resize_x, resize_y, sampler, prompt,
                                negative)))
    sizing = [enable, width, height, scale, resize_x, resize_y]
    for widget in sizing:
        widget.change(size_text, sizing, size_note, api_visibility="private", queue=False, show_progress="hidden")
    return HiresPanel(widgets)


def size_text(enable, width, height, scale, resize_x, resize_y) -> str:
    """A1111's line under the controls: from what size to what size the second pass draws."""
    if not enable:
        return ""
    try:
        sizes = hires_sizes(int(width), int(height), HiresFix(scale=float(scale), resize_x=int(resize_x or 0),
                                                              resize_y=int(resize_y or 0)))
    except (TypeError, ValueError, ZeroDivisionError):
        return ""
    return f"Upscale from {int(width)}×{int(height)} to {sizes.final[0]}×{sizes.final[1]}"


def hires_request(enable_hr=None, hr_upscaler=None, hr_scale=None, hr_second_pass_steps=None, hr_resize_x=None,
                  hr_resize_y=None, hr_sampler_name=None, hr_prompt=None, hr_negative_prompt=None) -> HiresFix | None:
    """The request's hires fix from the panel's values (raw: the engine's validation judges them), or None."""
    if not enable_hr:
        return None
    return HiresFix(**given(upscaler=hr_upscaler, scale=hr_scale, steps=hr_second_pass_steps, resize_x=hr_resize_x,
                            resize_y=hr_resize_y, sampler=hr_sampler_name, prompt=hr_prompt,
                            negative_prompt=hr_negative_prompt))


def values_from(text: str) -> list:
    """The panel's values (in FIELDS' order) for a picture's parameters text: its hires settings, or the panel
    turned off when the picture was made in one pass."""
    found = hires_from_infotext(parse_parameters(text or ""))
    if found is None:
        return [False] + [gr.skip()] * (len(FIELDS) - 1)
    found["hr_sampler_name"] = found["hr_sampler_name"] or SAME_SAMPLER
    for name in _NUMBERS:
        try:
            found[name] = float(found[name])
        except (KeyError, TypeError, ValueError):  # missing, or a hand-edited file's nonsense: left as it is
            found[name] = None
    return [gr.skip() if found.get(name) is None else found[name] for name in FIELDS]


_NUMBERS = ("hr_scale", "hr_second_pass_steps", "denoising_strength", "hr_resize_x", "hr_resize_y")
