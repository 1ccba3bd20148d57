"""Text to image: a prompt, the shared settings, the hires fix, the detailer and the X/Y/Z plot."""

from __future__ import annotations

import gradio as gr

from . import detailer, hires, image_prompt, refiner, xyz_plot
from .common import make_request, output_panel, settings_panel, top_row, wire
from .gallery import owner_of

TAB = "txt2img"


def create(studio):
    def txt2img(enable_hr=None, hr_upscaler=None, hr_scale=None, hr_second_pass_steps=None, denoising_strength=None,
            hr_resize_x=None, hr_resize_y=None, hr_sampler_name=None, hr_prompt=None, hr_negative_prompt=None,
            adetailer=None, ad_model=None, ad_prompt=None, ad_negative_prompt=None, ad_confidence=None,
            ad_denoising_strength=None, ad_mask_blur=None, ad_dilate_erode=None, ad_inpaint_only_masked=None,
            ad_inpaint_only_masked_padding=None, restore_faces=None, x_type=None, x_values=None,
            y_type=None, y_values=None, z_type=None, z_values=None, draw_legend=None,
            refiner_checkpoint=None, refiner_switch_at=None, ip_adapter=None, ip_image=None, ip_weight=None, ip_mode=None,
            ip_image_2=None, ip_weight_2=None, ip_mode_2=None,  prompt=None, negative_prompt=None, model=None,
            sampler=None, steps=None, guidance_scale=None, width=None, height=None, seed=None, batch_size=None,
            clip_skip=None, vae=None, styles=None,
            tiling=None, freeu=None, pag_scale=None, decode=None, feature_cache=None, subseed=None, subseed_strength=None,
            seed_resize_from_w=None, seed_resize_from_h=None, batch_count=None, history=None, run_id=None, request: gr.Request = None,
            progress=gr.Progress()):
        second_pass = hires.hires_request(enable_hr, hr_upscaler, hr_scale, hr_second_pass_steps, hr_resize_x,
                                          hr_resize_y, hr_sampler_name, hr_prompt, hr_negative_prompt)
        generation = make_request(task="txt2img", prompt=prompt, negative_prompt=negative_prompt, model=model,
                                  sampler=sampler, steps=steps, guidance_scale=guidance_scale, width=width,
                                  height=height, seed=seed, batch_size=batch_size,
                                  clip_skip=clip_skip, vae=vae, styles=styles,
                                  tiling=tiling, freeu=freeu, pag_scale=pag_scale, decode=decode, feature_cache=feature_cache,
                                  subseed=subseed, subseed_strength=subseed_strength,
                                  seed_resize_from_w=seed_resize_from_w, seed_resize_from_h=seed_resize_from_h, hires=second_pass,
                                  strength=denoising_strength if second_pass else None,
                                  restore_faces=restore_faces, refiner=refiner.refiner_of(refiner_checkpoint),
                                  image_prompts=image_prompt.image_prompts(ip_adapter, ip_image, ip_weight, ip_mode,
                                                                           ip_image_2, ip_weight_2, ip_mode_2),
                                  refiner_switch_at=refiner_switch_at, plot=xyz_plot.plot_request(
                                      x_type, x_values, y_type, y_values, z_type, z_values, draw_legend), detailer=detailer.detailer_request(
                                      adetailer, ad_model, ad_prompt, ad_negative_prompt, ad_confidence,
                                      ad_denoising_strength, ad_mask_blur, ad_dilate_erode, ad_inpaint_only_masked,
                                      ad_inpaint_only_masked_padding))
        yield from studio.runner.run(generation, history, progress, run_id, owner_of(request), batch_count)

    top = top_row(TAB, studio.info)
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            panels = settings_panel(TAB, studio.info, top, studio.manager)
            panels.hires = hires.panel(TAB, studio.info, panels.width, panels.height)
            details = detailer.panel(TAB, studio.info)
            references = image_prompt.panel(TAB, studio.info)
            refining = refiner.panel(TAB, studio.info)
            plot = xyz_plot.panel(TAB, studio.info)
            with gr.Accordion("Examples", open=False):
                gr.Examples([["a lighthouse on a cliff at dusk, oil painting", "blurry, low quality"],
                             ["a red fox in fresh snow, wildlife photograph, 85mm", "cartoon"],
                             ["isometric cozy reading room, soft light, 3d render", ""]], [top.prompt, top.negative])
        with gr.Column(scale=1, min_width=320):
            output_panel(TAB, panels, ["img2img", "inpaint", "outpaint", "controlnet"])
    wire(panels, txt2img, panels.hires.inputs() + details.inputs() + plot.inputs() + refining.inputs()
         + references.inputs(), "txt2img", studio)
    panels.detailer = details
    panels.plot = plot
    panels.refiner = refining
    return panels
