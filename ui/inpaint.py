"""Inpaint: paint over what to repaint (or upload a mask), then describe what goes there."""

from __future__ import annotations

import gradio as gr

from . import image_prompt
from .common import EXAMPLES, make_request, output_panel, settings_panel, size_of, top_row, wire
from .errors import guard
from .gallery import owner_of
from .masks import SKETCH_COLOURS, editor_background, editor_mask, editor_sketch
from .uploads import uploaded

TAB = "inpaint"
# Translucent white by default, to see what is under the mask; the colours are for inpaint sketch (any colour
# marks the mask alike).
BRUSH = gr.Brush(colors=[("#ffffff", 0.8), *SKETCH_COLOURS], color_mode="defaults", default_size=24)


def create(studio):
    def inpaint(image=None, mask=None, invert_mask=None, mask_blur=None, inpaint_only_masked=None,
            only_masked_padding=None, strength=None, sketch=None, ip_adapter=None, ip_image=None, ip_weight=None, ip_mode=None,
            ip_image_2=None, ip_weight_2=None, ip_mode_2=None, prompt=None, negative_prompt=None, model=None, sampler=None,
            steps=None, guidance_scale=None, width=None, height=None, seed=None, batch_size=None,
            clip_skip=None, vae=None, styles=None, tiling=None, freeu=None, pag_scale=None, decode=None, feature_cache=None, subseed=None, subseed_strength=None,
            seed_resize_from_w=None, seed_resize_from_h=None, batch_count=None, history=None,
            run_id=None, request: gr.Request = None, progress=gr.Progress()):
        # An uploaded mask wins over paint; a mask with nothing painted is refused by the engine, by name.
        limits = studio.manager.settings.limits
        painted = uploaded(mask, "mask") if mask is not None else editor_mask(image, limits)
        # Inpaint sketch (A1111's): the paint's colours go into the picture the masked area starts from
        start = editor_sketch(image, limits) if sketch else editor_background(image)
        generation = make_request(task="inpaint", image=start, mask=painted,
                                  invert_mask=invert_mask, mask_blur=mask_blur,
                                  inpaint_only_masked=inpaint_only_masked, only_masked_padding=only_masked_padding,
                                  strength=strength, prompt=prompt, negative_prompt=negative_prompt, model=model,
                                  sampler=sampler, steps=steps, guidance_scale=guidance_scale, width=width,
                                  height=height, seed=seed, batch_size=batch_size,
                                  clip_skip=clip_skip, vae=vae, styles=styles,
                                  tiling=tiling, freeu=freeu, pag_scale=pag_scale, decode=decode, feature_cache=feature_cache,
                                  subseed=subseed, subseed_strength=subseed_strength,
                                  seed_resize_from_w=seed_resize_from_w, seed_resize_from_h=seed_resize_from_h,
                                  image_prompts=image_prompt.image_prompts(ip_adapter, ip_image, ip_weight, ip_mode,
                                                                           ip_image_2, ip_weight_2, ip_mode_2))
        yield from studio.runner.run(generation, history, progress, run_id, owner_of(request), batch_count)

    top = top_row(TAB, studio.info)
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            image = gr.ImageEditor(
                label="Picture: paint over what to repaint", type="pil", image_mode="RGBA", format="png",
                brush=BRUSH, eraser=gr.Eraser(),
                layers=False, transforms=(), sources=("upload", "clipboard"), elem_id=f"{TAB}-editor",
            )
            with gr.Accordion("Mask", open=False):
                mask = gr.Image(label="Upload a mask instead (white = repaint)", type="pil", image_mode="L",
                                format="png", value=None)
                with gr.Row():
                    invert_mask = gr.Checkbox(False, label="Invert: repaint what is not painted")
                    mask_blur = gr.Slider(0, 64, value=4, step=1, label="Mask blur",
                                          info="Pixels over which the repainted area fades into the picture")
                with gr.Row():
                    inpaint_only_masked = gr.Checkbox(False, label="Only masked area, at full resolution")
                    only_masked_padding = gr.Slider(0, 256, value=32, step=4, label="Padding around it (pixels)",
                                                    info="Context the model sees around the area")
            sketch = gr.Checkbox(False, label="Inpaint sketch: the colours you paint go into the picture",
                                 info="Pick a colour by the brush; the painted area is repainted starting from your "
                                      "colours (lower the strength to keep more of them)", elem_id=f"{TAB}-sketch")
            strength = gr.Slider(0.01, 1.0, value=0.9, step=0.01, label="Strength",
                                 info="How much of the painted area to repaint: 1 ignores what was there")
            panels = settings_panel(TAB, studio.info, top, studio.manager)
            references = image_prompt.panel(TAB, studio.info)
            with gr.Accordion("Examples", open=False):
                gr.Examples([[f"{EXAMPLES}/astronaut.png", "a golden space helmet"],
                             [f"{EXAMPLES}/cat.png", "a tiny red bow tie"]], [image, top.prompt])
        with gr.Column(scale=1, min_width=320):
            output_panel(TAB, panels, ["img2img", "controlnet"])
    image.upload(guard(lambda value: size_of(editor_background(value), studio.info.max_side)), image, [panels.width, panels.height],
                 api_visibility="private", queue=False, preprocess=False)
    wire(panels, inpaint, [image, mask, invert_mask, mask_blur, inpaint_only_masked, only_masked_padding, strength,
                           sketch, *references.inputs()], "inpaint", studio)
    panels.image = image
    return panels
