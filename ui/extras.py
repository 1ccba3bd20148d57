"""Extras: a picture made larger, by A1111's built-in resamplers or an upscaler model from the model folders.

The picture keeps its parameters, with A1111's "Postprocess upscale by" and "Postprocess upscaler" added, so
PNG Info still reads how it was made. The upscaler runs on the device queue, like a generation.
"""

from __future__ import annotations

import gradio as gr

from pipelines import png_of

from .common import GPU_QUEUE
from .errors import guard
from .uploads import uploaded
from .zerogpu import on_gpu

TAB = "extras"
UPSCALE_SECONDS = 60  # a ZeroGPU call's length for one upscale: tiles of a few hundred pixels, a second each


def create(studio):
    names = studio.info.upscalers
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            picture = gr.Image(label="Picture", type="pil", format="png", elem_id=f"{TAB}-image")
            upscaler = gr.Dropdown(names, value=names[-1] if len(names) > 3 else "Lanczos", label="Upscaler",
                                   info="Lanczos and Nearest resample; a model (ESRGAN, SwinIR...) from your "
                                        "ESRGAN folder paints in detail", elem_id=f"{TAB}-upscaler")
            scale = gr.Slider(1, 8, value=2, step=0.25, label="Upscale by", elem_id=f"{TAB}-scale",
                              info="Times the picture's size; a 4x model runs again for more than 4")
            with gr.Accordion("Blend in a second upscaler", open=False):
                upscaler_2 = gr.Dropdown(names, value="None", label="Upscaler 2", elem_id=f"{TAB}-upscaler-2")
                visibility_2 = gr.Slider(0, 1, value=0, step=0.05, label="Upscaler 2 visibility",
                                         info="How much of the second upscaler's picture shows (A1111's Extras)")
            run = gr.Button("Upscale", variant="primary", elem_id=f"{TAB}-run")
        with gr.Column(scale=1, min_width=320):
            result = gr.Image(label="Upscaled", type="filepath", format="png", interactive=False,
                              elem_id=f"{TAB}-result", buttons=["download", "fullscreen"])
            parameters = gr.Textbox(label="Parameters", lines=3, interactive=False, elem_id=f"{TAB}-info",
                                    buttons=["copy"])

    def upscale(image=None, upscaler=None, scale=None, upscaler_2=None, visibility_2=None):
        made, infotext = studio.manager.upscale(uploaded(image, "image"), upscaler, scale, upscaler_2,
                                                visibility_2 or 0.0)
        path = studio.runner.files.path(f"upscaled-{made.width}x{made.height}.png")
        path.write_bytes(png_of(made, infotext))  # the parameters travel with the picture
        studio.runner.files.written([str(path)])
        return str(path), infotext

    run.click(on_gpu(guard(upscale), lambda arguments: UPSCALE_SECONDS),
              [picture, upscaler, scale, upscaler_2, visibility_2], [result, parameters], api_name="upscale", concurrency_id=GPU_QUEUE, concurrency_limit=1,
              preprocess=False)
