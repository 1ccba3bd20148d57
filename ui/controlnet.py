"""ControlNet: guide the picture with maps made from your pictures (edges, depth, pose, ...), two units at once."""

from __future__ import annotations

import gradio as gr

from pipelines import CONTROL_TYPES, PASS_THROUGH, ControlUnit

from . import image_prompt
from .common import EXAMPLES, given, make_request, output_panel, settings_panel, top_row, wire
from .errors import guard
from .gallery import owner_of
from .uploads import uploaded
from .zerogpu import map_seconds, on_gpu

TAB = "controlnet"


def preprocessor_choices(control_type: str | None) -> list[str]:
    spec = CONTROL_TYPES.get(control_type or "")
    own = list(spec.preprocessors or (spec.preprocessor,)) if spec else []
    return own + [PASS_THROUGH]


def _unit(control_type, control_image, preprocessor, conditioning_scale, start, end, low, high):
    return ControlUnit(control_type, **given(image=uploaded(control_image, "control_image"), preprocessor=preprocessor,
                                             conditioning_scale=conditioning_scale, start=start, end=end),
                       preprocessor_params=given(low_threshold=low, high_threshold=high))


def _unit_panel(number: int, types: list[str]):
    suffix = "" if number == 1 else f"_{number}"
    with gr.Row():
        control_type = gr.Dropdown(types, value=types[0] if types else None, label="Control type",
                                   info="What the ControlNet follows: edges, depth, pose...",
                                   elem_id=f"{TAB}-type{suffix}")
        preprocessor = gr.Dropdown(preprocessor_choices(types[0] if types else None),
                                   value=preprocessor_choices(types[0] if types else None)[0], label="Preprocessor",
                                   info="Makes the map from your picture; none: the picture already is one")
    with gr.Row():
        control_image = gr.Image(label="Control picture", type="pil", format="png", elem_id=f"{TAB}-image{suffix}")
        control_map = gr.Image(label="Detected map", type="pil", format="png", interactive=False,
                               elem_id=f"{TAB}-map{suffix}")
    with gr.Row():
        low = gr.Slider(1, 255, value=100, step=1, label="Canny low threshold", info="Lower: more, fainter edges")
        high = gr.Slider(1, 255, value=200, step=1, label="Canny high threshold", info="Above the low one")
    with gr.Row():
        scale = gr.Slider(0, 2, value=1.0, step=0.05, label="Conditioning scale", info="How strongly the map guides")
        start = gr.Slider(0, 1, value=0.0, step=0.05, label="Start", info="Share of the steps before it acts")
        end = gr.Slider(0, 1, value=1.0, step=0.05, label="End", info="Share of the steps after which it stops")
    preview = gr.Button("Preview map", size="sm", elem_id=f"{TAB}-preview{suffix}")
    control_type.change(lambda t: gr.update(choices=preprocessor_choices(t), value=preprocessor_choices(t)[0]),
                        control_type, preprocessor, api_visibility="private", queue=False)
    return dict(control_type=control_type, control_image=control_image, preprocessor=preprocessor, scale=scale,
                start=start, end=end, low=low, high=high, preview=preview, control_map=control_map)


def create(studio):
    types = studio.info.control_types  # every type the library has; narrowed to the model's family on load

    def controlnet(control_type=None, control_image=None, preprocessor=None, conditioning_scale=None,
            control_start=None, control_end=None, low_threshold=None, high_threshold=None, enable_unit_2=None,
            control_type_2=None, control_image_2=None, preprocessor_2=None, conditioning_scale_2=None,
            control_start_2=None, control_end_2=None, low_threshold_2=None, high_threshold_2=None, image=None, strength=None, mask=None,
            ip_adapter=None, ip_image=None, ip_weight=None, ip_mode=None,
            ip_image_2=None, ip_weight_2=None, ip_mode_2=None, prompt=None,
            negative_prompt=None, model=None, sampler=None, steps=None, guidance_scale=None, width=None,
            height=None, seed=None, batch_size=None,
            clip_skip=None, vae=None, styles=None,
            tiling=None, freeu=None, pag_scale=None, decode=None, feature_cache=None, subseed=None, subseed_strength=None,
            seed_resize_from_w=None, seed_resize_from_h=None, batch_count=None, history=None, run_id=None, request: gr.Request = None,
            progress=gr.Progress()):
        units = [_unit(control_type, control_image, preprocessor, conditioning_scale, control_start, control_end,
                       low_threshold, high_threshold)]
        if enable_unit_2:
            units.append(_unit(control_type_2, control_image_2, preprocessor_2, conditioning_scale_2, control_start_2,
                               control_end_2, low_threshold_2, high_threshold_2))
        generation = make_request(task="controlnet", control_units=units, image=uploaded(image, "image"),
                                  strength=strength, mask=uploaded(mask, "mask"), prompt=prompt,
                                  negative_prompt=negative_prompt, model=model, sampler=sampler, steps=steps,
                                  guidance_scale=guidance_scale, width=width, height=height, seed=seed,
                                  batch_size=batch_size,
                                  clip_skip=clip_skip, vae=vae, styles=styles,
                                  tiling=tiling, freeu=freeu, pag_scale=pag_scale, decode=decode, feature_cache=feature_cache,
                                  subseed=subseed, subseed_strength=subseed_strength,
                                  seed_resize_from_w=seed_resize_from_w, seed_resize_from_h=seed_resize_from_h,
                                  image_prompts=image_prompt.image_prompts(ip_adapter, ip_image, ip_weight, ip_mode,
                                                                           ip_image_2, ip_weight_2, ip_mode_2))
        yield from studio.runner.run(generation, history, progress, run_id, owner_of(request), batch_count)

    def preview_map(control_type, control_image, preprocessor, low, high, model, width, height):
        unit = _unit(control_type, control_image, preprocessor, 1.0, 0.0, 1.0, low, high)
        maps = studio.manager.preprocess(make_request(task="controlnet", control_units=[unit], model=model,
                                                      width=width, height=height, seed=0))
        return maps[0]

    top = top_row(TAB, studio.info)
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            with gr.Tab("Unit 1"):
                unit1 = _unit_panel(1, types)
            with gr.Tab("Unit 2"):
                enable_2 = gr.Checkbox(False, label="Use a second unit")
                unit2 = _unit_panel(2, types)
            with gr.Accordion("Start from a picture (optional)", open=False):
                image = gr.Image(label="Starting picture", type="pil", format="png", value=None)
                strength = gr.Slider(0.01, 1.0, value=0.75, step=0.01, label="Strength",
                                     info="How much to change the starting picture")
                mask = gr.Image(label="Mask (white = repaint), optional", type="pil", image_mode="L", format="png",
                                value=None)
            panels = settings_panel(TAB, studio.info, top, studio.manager)
            references = image_prompt.panel(TAB, studio.info)
            with gr.Accordion("Examples", open=False):
                gr.Examples([[f"{EXAMPLES}/astronaut.png", "a bronze statue of an astronaut, museum light"],
                             [f"{EXAMPLES}/coffee.png", "a cup of tea on a wooden table, morning light"]],
                            [unit1["control_image"], top.prompt])
        with gr.Column(scale=1, min_width=320):
            output_panel(TAB, panels, ["img2img", "inpaint"])
    for unit in (unit1, unit2):
        unit["preview"].click(on_gpu(guard(preview_map), map_seconds), [unit["control_type"], unit["control_image"], unit["preprocessor"],
                                                   unit["low"], unit["high"], panels.model, panels.width, panels.height],
                              unit["control_map"], api_visibility="private", concurrency_id="device", preprocess=False)
    # only the types that fit the chosen model's family are offered: when the page loads (the engine
    # starts after the page, so the page cannot know the family before) and whenever the model changes
    gr.on(None, guard(lambda model: [gr.update(choices=studio.manager.control_types(model))] * 2),
          panels.model, [unit1["control_type"], unit2["control_type"]], api_visibility="private")
    own = [unit1["control_type"], unit1["control_image"], unit1["preprocessor"], unit1["scale"], unit1["start"],
           unit1["end"], unit1["low"], unit1["high"], enable_2, unit2["control_type"], unit2["control_image"],
           unit2["preprocessor"], unit2["scale"], unit2["start"], unit2["end"], unit2["low"], unit2["high"], image,
           strength, mask, *references.inputs()]
    wire(panels, controlnet, own, "controlnet", studio)
    panels.image = unit1["control_image"]
    return panels
