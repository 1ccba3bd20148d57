"""Image to image: a starting picture (or a sketch in colour on it), how much to change it, how to fit it."""

from __future__ import annotations

import gradio as gr

from . import detailer, image_prompt, refiner, xyz_plot
from .common import EXAMPLES, make_request, output_panel, settings_panel, size_of, top_row, wire
from .errors import guard
from .gallery import owner_of
from .masks import SKETCH_COLOURS, sketched_or

TAB = "img2img"


def create(studio):
    def img2img(image=None, strength=None, resize_mode=None, sketch=None, adetailer=None, ad_model=None,
            ad_prompt=None, ad_negative_prompt=None, ad_confidence=None, ad_denoising_strength=None, ad_mask_blur=None,
            ad_dilate_erode=None, ad_inpaint_only_masked=None, ad_inpaint_only_masked_padding=None,
            ad_skip_img2img=None, restore_faces=None, x_type=None, x_values=None,
            y_type=None, y_values=None, z_type=None, z_values=None, draw_legend=None,
            refiner_checkpoint=None, refiner_switch_at=None, ip_adapter=None, ip_image=None, ip_weight=None, ip_mode=None,
            ip_image_2=None, ip_weight_2=None, ip_mode_2=None,  prompt=None, negative_prompt=None,
            model=None, sampler=None, steps=None, guidance_scale=None, width=None, height=None, seed=None,
            batch_size=None, clip_skip=None, vae=None, styles=None, tiling=None, freeu=None, pag_scale=None, decode=None, feature_cache=None, subseed=None, subseed_strength=None,
            seed_resize_from_w=None, seed_resize_from_h=None, batch_count=None,
            history=None, run_id=None, request: gr.Request = None, progress=gr.Progress()):
        start = sketched_or(image, sketch, studio.manager.settings.limits)
        generation = make_request(task="img2img", image=start, strength=strength,
                                  resize_mode=resize_mode, prompt=prompt, negative_prompt=negative_prompt,
                                  model=model, sampler=sampler, steps=steps, guidance_scale=guidance_scale,
                                  width=width, height=height, seed=seed, batch_size=batch_size,
                                  clip_skip=clip_skip, vae=vae, styles=styles,
                                  tiling=tiling, freeu=freeu, pag_scale=pag_scale, decode=decode, feature_cache=feature_cache,
                                  subseed=subseed, subseed_strength=subseed_strength,
                                  seed_resize_from_w=seed_resize_from_w, seed_resize_from_h=seed_resize_from_h,
                                  restore_faces=restore_faces, refiner=refiner.refiner_of(refiner_checkpoint),
                                  image_prompts=image_prompt.image_prompts(ip_adapter, ip_image, ip_weight, ip_mode,
                                                                           ip_image_2, ip_weight_2, ip_mode_2),
                                  refiner_switch_at=refiner_switch_at, plot=xyz_plot.plot_request(
                                      x_type, x_values, y_type, y_values, z_type, z_values, draw_legend), detailer=detailer.detailer_request(
                                      adetailer, ad_model, ad_prompt, ad_negative_prompt, ad_confidence,
                                      ad_denoising_strength, ad_mask_blur, ad_dilate_erode, ad_inpaint_only_masked,
                                      ad_inpaint_only_masked_padding, ad_skip_img2img))
        yield from studio.runner.run(generation, history, progress, run_id, owner_of(request), batch_count)

    top = top_row(TAB, studio.info)
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            with gr.Tabs():
                with gr.Tab("Picture", id="picture"):
                    image = gr.Image(label="Starting picture", type="pil", format="png", elem_id=f"{TAB}-image")
                with gr.Tab("Sketch", id="sketch", elem_id=f"{TAB}-sketch-tab"):
                    # A1111's sketch: what is painted here, in its colours, becomes part of the starting picture
                    sketch = gr.ImageEditor(
                        label="Sketch on the picture: the colours you paint become part of it", type="pil",
                        image_mode="RGBA", format="png", eraser=gr.Eraser(), layers=False, transforms=(),
                        brush=gr.Brush(colors=SKETCH_COLOURS, color_mode="defaults", default_size=12),
                        sources=("upload", "clipboard"), elem_id=f"{TAB}-sketch",
                    )
            with gr.Row():
                strength = gr.Slider(0.01, 1.0, value=0.75, step=0.01, label="Strength",
                                     info="How much to change the picture: 0.3 keeps it, 0.9 keeps little more than "
                                          "its colours")
                resize_mode = gr.Radio(["resize", "crop", "fill"], value="resize", label="Fit to size by",
                                       info="When the picture's shape differs from the size below")
            panels = settings_panel(TAB, studio.info, top, studio.manager)
            details = detailer.panel(TAB, studio.info, with_skip=True)
            references = image_prompt.panel(TAB, studio.info)
            refining = refiner.panel(TAB, studio.info)
            plot = xyz_plot.panel(TAB, studio.info)
            with gr.Accordion("Examples", open=False):
                gr.Examples([[f"{EXAMPLES}/cat.png", "a watercolour painting of a cat", 0.6],
                             [f"{EXAMPLES}/coffee.png", "a cup of coffee, pencil sketch", 0.7]],
                            [image, top.prompt, strength])
        with gr.Column(scale=1, min_width=320):
            output_panel(TAB, panels, ["inpaint", "outpaint", "controlnet"])
    # the starting picture sets the size, as users expect
    image.upload(guard(lambda value: size_of(value, studio.info.max_side)), image, [panels.width, panels.height],
                 api_visibility="private", queue=False, preprocess=False)
    # The sketch starts from the picture: uploaded, sent here from another tab, or cleared
    image.change(_to_sketch, image, sketch, api_visibility="private", queue=False)
    sketch.upload(guard(lambda value: size_of(value.get("background") if isinstance(value, dict) else None,
                                              studio.info.max_side)),
                  sketch, [panels.width, panels.height], api_visibility="private", queue=False, preprocess=False)
    wire(panels, img2img, [image, strength, resize_mode, sketch, *details.inputs(), *plot.inputs(),
                           *refining.inputs(), *references.inputs()], "img2img", studio)
    panels.image = image
    panels.detailer = details
    panels.plot = plot
    panels.refiner = refining
    return panels


def _to_sketch(picture):
    return None if picture is None else {"background": picture, "layers": [], "composite": picture}
