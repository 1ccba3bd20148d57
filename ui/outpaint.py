"""Outpaint: grow the canvas around a picture and paint what lies beyond its edges."""

from __future__ import annotations

import gradio as gr

from pipelines import OUTPAINT_MAX_PIXELS, Outpaint

from .common import EXAMPLES, given, make_request, output_panel, settings_panel, size_of, top_row, wire
from .errors import guard
from .gallery import owner_of
from .uploads import uploaded

TAB = "outpaint"
FILL_CHOICES = [("Edge colours, blurred", "edges"), ("Noise", "noise")]


def create(studio):
    def outpaint(image=None, left=None, right=None, up=None, down=None, fill=None, mask_blur=None, strength=None,
                 prompt=None, negative_prompt=None, model=None, sampler=None, steps=None, guidance_scale=None,
                 width=None, height=None, seed=None, batch_size=None, clip_skip=None, vae=None, styles=None,
                 tiling=None, freeu=None, pag_scale=None, decode=None, feature_cache=None, subseed=None, subseed_strength=None,
            seed_resize_from_w=None, seed_resize_from_h=None, batch_count=None,
                 history=None, run_id=None, request: gr.Request = None, progress=gr.Progress()):
        # width and height are not asked for: the picture and the pixels added make the canvas
        grow = Outpaint(**given(left=left, right=right, up=up, down=down, fill=fill))
        generation = make_request(task="inpaint", image=uploaded(image, "image"), outpaint=grow, mask_blur=mask_blur,
                                  strength=strength, prompt=prompt, negative_prompt=negative_prompt, model=model,
                                  sampler=sampler, steps=steps, guidance_scale=guidance_scale, seed=seed,
                                  batch_size=batch_size, clip_skip=clip_skip, vae=vae, styles=styles,
                                  tiling=tiling, freeu=freeu, pag_scale=pag_scale, decode=decode, feature_cache=feature_cache,
                                  subseed=subseed, subseed_strength=subseed_strength,
                                  seed_resize_from_w=seed_resize_from_w, seed_resize_from_h=seed_resize_from_h)
        yield from studio.runner.run(generation, history, progress, run_id, owner_of(request), batch_count)

    top = top_row(TAB, studio.info)
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            image = gr.Image(label="Picture to extend", type="pil", format="png", elem_id=f"{TAB}-image")
            with gr.Row():
                # A1111's outpainting grows every side by 128 unless told otherwise
                sides = [gr.Slider(0, OUTPAINT_MAX_PIXELS, value=128, step=8, label=label, min_width=110,
                                   elem_id=f"{TAB}-{name}")
                         for name, label in (("left", "Left"), ("right", "Right"), ("up", "Up"), ("down", "Down"))]
            with gr.Row():
                fill = gr.Radio(FILL_CHOICES, value="edges", label="New area starts from",
                                info="Noise gives more new detail; edge colours follow the picture more closely")
                mask_blur = gr.Slider(0, 64, value=8, step=1, label="Seam", elem_id=f"{TAB}-seam",
                                      info="Pixels of the picture repainted along each edge, so that it blends")
            strength = gr.Slider(0.01, 1.0, value=0.9, step=0.01, label="Strength",
                                 info="How freely the new area is painted: 1 ignores what it starts from")
            panels = settings_panel(TAB, studio.info, top, studio.manager, sized=False)
            with gr.Accordion("Examples", open=False):
                gr.Examples([[f"{EXAMPLES}/cat.png", "a cat on a sofa in a sunny living room"],
                             [f"{EXAMPLES}/coffee.png", "a cup of coffee on a wooden table in a cafe"]],
                            [image, top.prompt])
        with gr.Column(scale=1, min_width=320):
            output_panel(TAB, panels, ["img2img", "inpaint", "outpaint"])
    # The hidden size follows the picture, so that a ZeroGPU call is sized for the canvas (zerogpu.py)
    image.upload(guard(lambda value: size_of(value, studio.info.max_side, quiet=True)), image, [panels.width, panels.height],
                 api_visibility="private", queue=False, preprocess=False)
    wire(panels, outpaint, [image, *sides, fill, mask_blur, strength], "outpaint", studio)
    panels.image = image
    return panels
