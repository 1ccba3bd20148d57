"""Task pipelines as views over one base model's weights, and the arguments each task's call takes.

A view is made with diffusers' `from_pipe` (through the AutoPipeline classes, which pick the right
pipeline for the family, the task and the kind of ControlNet): it holds the very same UNet, VAE and
text encoders as the base, so switching task loads and copies nothing.
"""

from __future__ import annotations

from PIL import Image

from .control import blur_mask, inpaint_condition
from .errors import InvalidRequest
from .request import GenerationRequest


def make_view(base_pipeline, task: str, controlnets: list, has_init: bool, has_mask: bool, vae=None,
              pag: bool = False):
    """A pipeline for the task over the base's own modules (diffusers' from_pipe: nothing is copied); with `pag`,
    diffusers' perturbed-attention-guidance variant of it."""
    from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image

    if task == "inpaint" or has_mask:
        auto = AutoPipelineForInpainting
    elif task == "img2img" or has_init:
        auto = AutoPipelineForImage2Image
    else:
        auto = AutoPipelineForText2Image
    extra = {}
    if vae is not None:  # a VAE the user chose in place of the model's own
        extra["vae"] = vae
    if controlnets:
        extra["controlnet"] = controlnets[0] if len(controlnets) == 1 else list(controlnets)
    if pag:
        extra["enable_pag"] = True  # on the middle block, diffusers' default
    try:
        return auto.from_pipe(base_pipeline, **extra)
    except ValueError as error:
        if not pag:
            raise
        raise InvalidRequest("pag_scale", f"diffusers has no PAG pipeline for this task and model ({error}); "
                                          "set pag_scale to 0") from None


def call_arguments(request: GenerationRequest, control_maps: list[Image.Image], union_modes: list[int] | None,
                   prompt_arguments: dict, transformer: bool = False) -> dict:
    """The keyword arguments of the view's `__call__` for a validated request (generators and callbacks aside);
    the prompts come encoded (prompt_encoding.py), as `prompt_embeds` and the like. `transformer`: a FLUX or SD 3
    view, which takes the size on every task (its image-to-image pipelines would otherwise paint at 1024) and its
    control picture as `control_image` on every task."""
    args = dict(
        **prompt_arguments,
        num_inference_steps=request.steps,
        guidance_scale=request.guidance_scale,
        num_images_per_prompt=request.batch_size,
    )
    task, has_init, has_mask = request.task, request.image is not None, request.mask is not None
    if task == "txt2img" or (task == "controlnet" and not has_init) or transformer:
        args.update(width=request.width, height=request.height)
    if has_init:
        args.update(image=request.image, strength=request.strength)
    if has_mask:
        args.update(mask_image=blur_mask(request.mask, request.mask_blur), width=request.width, height=request.height)
        if request.inpaint_only_masked:
            # diffusers crops the masked area plus padding, repaints it at full size and pastes it back
            args["padding_mask_crop"] = request.only_masked_padding
    if task == "controlnet":
        args.update(_control_arguments(request, control_maps, union_modes, transformer))
    if request.pag_scale:
        args["pag_scale"] = request.pag_scale
    return args


def _control_arguments(request: GenerationRequest, control_maps: list, union_modes: list[int] | None,
                       transformer: bool = False) -> dict:
    units = request.control_units
    conditions = [
        inpaint_condition(request.image if request.image is not None else unit.image, request.mask)
        if unit.preprocessor == "inpaint" else control_map
        for unit, control_map in zip(units, control_maps)
    ]
    single = len(units) == 1 and union_modes is None
    args = {
        "controlnet_conditioning_scale": units[0].conditioning_scale if single else [u.conditioning_scale for u in units],
        "control_guidance_start": units[0].start if single else [u.start for u in units],
        "control_guidance_end": units[0].end if single else [u.end for u in units],
    }
    if union_modes is not None and transformer:  # FLUX's union ControlNet: one map and its mode number
        if len(units) > 1:
            raise InvalidRequest("control_units", "a FLUX union ControlNet takes one unit per run; use one unit, or "
                                                  "ControlNets of one type each")
        args.update(control_image=conditions[0], control_mode=union_modes[0])
    elif union_modes is not None:
        # one union ControlNet takes every unit's map, each with its mode number; one scale for all
        args.update(control_image=conditions, control_mode=union_modes,
                    controlnet_conditioning_scale=units[0].conditioning_scale,
                    control_guidance_start=min(u.start for u in units), control_guidance_end=max(u.end for u in units))
    elif request.image is None and request.mask is None and not transformer:
        args["image"] = conditions[0] if single else conditions  # the text-to-image ControlNet pipelines call it `image`
    else:
        args["control_image"] = conditions[0] if single else conditions
    return args
