"""Text to image: a prompt and the shared settings."""

from __future__ import annotations

import gradio as gr

from .common import make_request, output_panel, settings_panel, top_row, wire
from .gallery import owner_of

TAB = "txt2img"


def create(studio):
    def txt2img(prompt=None, negative_prompt=None, model=None, sampler=None, steps=None, guidance_scale=None,
            width=None, height=None, seed=None, batch_size=None,
            clip_skip=None, vae=None, styles=None, history=None, run_id=None, request: gr.Request = None,
            progress=gr.Progress()):
        generation = make_request(task="txt2img", prompt=prompt, negative_prompt=negative_prompt, model=model,
                                  sampler=sampler, steps=steps, guidance_scale=guidance_scale, width=width,
                                  height=height, seed=seed, batch_size=batch_size,
                                  clip_skip=clip_skip, vae=vae, styles=styles)
        yield from studio.runner.run(generation, history, progress, run_id, owner_of(request))

    top = top_row(TAB, studio.info)
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            panels = settings_panel(TAB, studio.info, top, studio.manager)
            with gr.Accordion("Examples", open=False):
                gr.Examples([["a lighthouse on a cliff at dusk, oil painting", "blurry, low quality"],
                             ["a red fox in fresh snow, wildlife photograph, 85mm", "cartoon"],
                             ["isometric cozy reading room, soft light, 3d render", ""]], [top.prompt, top.negative])
        with gr.Column(scale=1, min_width=320):
            output_panel(TAB, panels, ["img2img", "inpaint", "controlnet"])
    wire(panels, txt2img, [], "txt2img", studio)
    return panels
