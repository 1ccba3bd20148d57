"""Image to image: a starting picture, how much to change it, and how to fit it to the size."""

from __future__ import annotations

import gradio as gr

from .common import EXAMPLES, make_request, output_panel, settings_panel, size_of, top_row, wire
from .errors import guard
from .gallery import owner_of
from .uploads import uploaded

TAB = "img2img"


def create(studio):
    def img2img(image=None, strength=None, resize_mode=None, prompt=None, negative_prompt=None, model=None,
            sampler=None, steps=None, guidance_scale=None, width=None, height=None, seed=None, batch_size=None,
            clip_skip=None, vae=None, styles=None,
            history=None, run_id=None, request: gr.Request = None, progress=gr.Progress()):
        generation = make_request(task="img2img", image=uploaded(image, "image"), strength=strength,
                                  resize_mode=resize_mode, prompt=prompt, negative_prompt=negative_prompt,
                                  model=model, sampler=sampler, steps=steps, guidance_scale=guidance_scale,
                                  width=width, height=height, seed=seed, batch_size=batch_size,
                                  clip_skip=clip_skip, vae=vae, styles=styles)
        yield from studio.runner.run(generation, history, progress, run_id, owner_of(request))

    top = top_row(TAB, studio.info)
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            image = gr.Image(label="Starting picture", type="pil", format="png", elem_id=f"{TAB}-image")
            with gr.Row():
                strength = gr.Slider(0.01, 1.0, value=0.75, step=0.01, label="Strength",
                                     info="How much to change the picture: 0.3 keeps it, 0.9 keeps little more than "
                                          "its colours")
                resize_mode = gr.Radio(["resize", "crop", "fill"], value="resize", label="Fit to size by",
                                       info="When the picture's shape differs from the size below")
            panels = settings_panel(TAB, studio.info, top, studio.manager)
            with gr.Accordion("Examples", open=False):
                gr.Examples([[f"{EXAMPLES}/cat.png", "a watercolour painting of a cat", 0.6],
                             [f"{EXAMPLES}/coffee.png", "a cup of coffee, pencil sketch", 0.7]],
                            [image, top.prompt, strength])
        with gr.Column(scale=1, min_width=320):
            output_panel(TAB, panels, ["inpaint", "outpaint", "controlnet"])
    # the starting picture sets the size, as users expect
    image.upload(guard(lambda value: size_of(value, studio.info.max_side)), image, [panels.width, panels.height], api_visibility="private", queue=False,
                 preprocess=False)
    wire(panels, img2img, [image, strength, resize_mode], "img2img", studio)
    panels.image = image
    return panels
