"""Text to image: a prompt and the shared settings."""

from __future__ import annotations

import gradio as gr

from pipelines.request import GenerationRequest

from .common import output_panel, prompt_panel, settings_panel, wire

TAB = "txt2img"


def create(studio):
    def txt2img(prompt, negative_prompt, model, sampler, steps, guidance_scale, width, height, seed, batch_size,
                history, request: gr.Request, progress=gr.Progress()):
        generation = GenerationRequest(task="txt2img", prompt=prompt, negative_prompt=negative_prompt, model=model,
                                       sampler=sampler, steps=steps, guidance_scale=guidance_scale, width=width,
                                       height=height, seed=seed, batch_size=batch_size)
        yield from studio.runner.run(generation, history, request, progress)

    with gr.Row():
        with gr.Column():
            prompt, negative = prompt_panel(TAB)
            panels = settings_panel(TAB, studio.info, prompt, negative)
        with gr.Column():
            output_panel(TAB, panels, ["img2img", "inpaint", "controlnet"])
    wire(panels, txt2img, [], "txt2img", studio.history, studio.runner.stop)
    return panels
