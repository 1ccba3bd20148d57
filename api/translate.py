"""An A1111 txt2img/img2img request turned into Easel's GenerationRequests, one per `n_iter` batch.

A1111 runs `n_iter` batches of `batch_size` pictures, picture i of the whole job taking seed + i; here
each batch is one `manager.generate` call whose seed is the job's seed plus the pictures before it.
What A1111 has and Easel does not (an infotext to fill the request from, ...) is accepted
and named in the response's warnings, never silently dropped; the engine validates everything else,
and its field names are turned back into the client's (`client_field`) for its messages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from pipelines import MAX_SEED, SHARED_API_NAMES, GenerationRequest, HiresFix, InvalidRequest

from .adetailer import detailer_plan
from .control_units import ControlPlan, control_plan
from .options import check_clip_skip, check_decode_method, check_vae
from .outpaint_scripts import is_outpaint_script, outpaint_from_script
from .xyz_scripts import is_plot_script, plot_from_script
from .pictures import decode_picture
from .samplers import easel_sampler
from .schemas import Generation, Img2Img, Txt2Img

RESIZE_MODES = {0: "resize", 1: "crop", 2: "fill", 3: "resize"}  # 3, A1111's latent upscale: resized as pictures
# The engine's field names that differ from A1111's.
CLIENT_FIELDS = {**SHARED_API_NAMES,  # the shared settings' A1111 names, declared with them (pipelines)
                 "image": "init_images", "strength": "denoising_strength", "refiner": "refiner_checkpoint",
                 "only_masked_padding": "inpaint_full_res_padding", "invert_mask": "inpainting_mask_invert",
                 # A1111 takes these two as options (or override_settings), not as fields of the request
                 "clip_skip": "override_settings.CLIP_stop_at_last_layers", "vae": "override_settings.sd_vae",
                 "decode": "override_settings.sd_vae_decode_method"}


@dataclass
class Plan:
    kind: str  # "txt2img" or "img2img"
    requests: list[GenerationRequest]  # one per batch (n_iter)
    seed: int
    subseed: int
    echo: dict  # the request as validated, given back as `parameters`
    control: ControlPlan
    model_field: str  # the client's field that named the model
    send_images: bool = True
    save_images: bool = False
    warnings: list[str] = field(default_factory=list)
    script_fields: dict = field(default_factory=dict)  # engine field -> its place in script_args
    plot_lone_images: bool = True  # an X/Y/Z plot's answer holds each cell's pictures besides the grid

    def client_field(self, engine_field: str) -> str:
        if engine_field == "model":
            return self.model_field
        if engine_field in self.script_fields:
            return self.script_fields[engine_field]
        return self.control.client_field(engine_field) or CLIENT_FIELDS.get(engine_field, engine_field)


def txt2img_plan(body: Txt2Img, options, limits) -> Plan:
    warnings = _unsupported(body)
    size = (body.width, body.height)
    control = control_plan(body.alwayson_scripts, options.library, None, size, warnings)
    task = {"task": "controlnet" if control.units else "txt2img", "resize_mode": control.resize_mode or "resize",
            "image_prompts": control.image_prompts}
    if body.enable_hr:
        task.update(hires=_hires(body, warnings), **_given(strength=body.denoising_strength))
    details = detailer_plan(body.alwayson_scripts, warnings)
    task["detailer"] = details.detailer
    script_fields = dict(details.fields)
    plot = _plot(body, "txt2img", task, script_fields, warnings)
    plan = _plan("txt2img", body, task, control, options, limits, warnings, body.model_dump())
    plan.script_fields = script_fields
    plan.plot_lone_images = plot
    return plan


def _plot(body: Generation, kind: str, task: dict, script_fields: dict, warnings: list[str]) -> bool:
    """A1111's X/Y/Z plot script into the task; whether its answer holds each cell's pictures."""
    if not is_plot_script(body.script_name):
        return True
    script = plot_from_script(body.script_args, kind, warnings)
    task["plot"] = script.plot
    script_fields.update(script.fields)
    return script.include_lone_images


def _hires(body: Txt2Img, warnings: list[str]) -> HiresFix:
    """A1111's hires fields as the engine's HiresFix (the engine checks their values, by these names)."""
    if body.hr_checkpoint_name and body.hr_checkpoint_name.strip() not in ("", "Use same checkpoint"):
        warnings.append(f"hr_checkpoint_name: Easel draws the second pass with the first pass's model, not "
                        f"{body.hr_checkpoint_name}")
    if body.firstphase_width or body.firstphase_height:
        warnings.append("firstphase_width: A1111's old hires fields are not used; give width and height (the first "
                        "pass) and hr_scale or hr_resize_x/hr_resize_y")
    sampler = body.hr_sampler_name
    if sampler and sampler.strip() != "Use same sampler":
        try:
            sampler = easel_sampler(sampler, body.hr_scheduler or body.scheduler, warnings)
        except ValueError as error:
            raise InvalidRequest("hr_scheduler", str(error)) from None
    return HiresFix(**_given(scale=body.hr_scale, resize_x=body.hr_resize_x, resize_y=body.hr_resize_y,
                             upscaler=body.hr_upscaler, steps=body.hr_second_pass_steps, sampler=sampler,
                             prompt=body.hr_prompt, negative_prompt=body.hr_negative_prompt))


def img2img_plan(body: Img2Img, options, limits) -> Plan:
    warnings = _unsupported(body)
    images = body.init_images or []
    if len(images) > 1:
        warnings.append(f"init_images: Easel starts every picture from the first of the {len(images)} init images")
    image = decode_picture("init_images[0]", images[0]) if images else None
    mask = decode_picture("mask", body.mask)
    size = (body.width, body.height)
    control = control_plan(body.alwayson_scripts, options.library, image, size, warnings)
    if body.resize_mode not in RESIZE_MODES:
        raise InvalidRequest("resize_mode", f"unknown value {body.resize_mode!r}; choose one of: 0 (just resize), "
                                            "1 (crop and resize), 2 (resize and fill), 3 (latent upscale)")
    task = {"task": "controlnet" if control.units else "inpaint" if mask is not None else "img2img", "image": image,
            "resize_mode": RESIZE_MODES[body.resize_mode], "image_prompts": control.image_prompts,
            **_given(strength=body.denoising_strength)}
    if mask is not None:
        blur = body.mask_blur if body.mask_blur is not None else body.mask_blur_x
        if body.mask_blur is None and body.mask_blur_x != body.mask_blur_y:
            warnings.append("mask_blur_y: Easel blurs the mask the same in both directions; mask_blur_x was used")
        if body.inpainting_fill != 1:
            warnings.append(f"inpainting_fill: {body.inpainting_fill} is not available in Easel; the masked area "
                            "starts from the original picture (1, 'original')")
        task.update(mask=mask, invert_mask=bool(body.inpainting_mask_invert),
                    inpaint_only_masked=bool(body.inpaint_full_res is None or body.inpaint_full_res),
                    **_given(mask_blur=blur, only_masked_padding=body.inpaint_full_res_padding))
    details = detailer_plan(body.alwayson_scripts, warnings)
    task["detailer"] = details.detailer
    script_fields = dict(details.fields)
    if is_outpaint_script(body.script_name):  # the grown canvas is painted through the inpaint path
        script = outpaint_from_script(body.script_name, body.script_args, warnings)
        task.update(task="inpaint", outpaint=script.outpaint, mask_blur=script.mask_blur)
        script_fields.update(script.fields)
    plot = _plot(body, "img2img", task, script_fields, warnings)
    echo = body.model_dump()
    if not body.include_init_images:  # as A1111: the pictures are not sent back
        echo.update(init_images=None, mask=None)
    plan = _plan("img2img", body, task, control, options, limits, warnings, echo)
    plan.script_fields = script_fields
    plan.plot_lone_images = plot
    return plan


def _plan(kind: str, body: Generation, task: dict, control: ControlPlan, options, limits, warnings: list[str],
          echo: dict) -> Plan:
    if body.script_name and body.script_name.strip().lower() not in ("", "none"):
        if not (kind == "img2img" and is_outpaint_script(body.script_name)) and not is_plot_script(body.script_name):
            scripts = ", 'outpainting mk2' or 'poor man's outpainting'" if kind == "img2img" else ""
            raise InvalidRequest("script_name", f"Easel has no {kind} script {body.script_name!r}; leave script_name "
                                                f"empty, or use 'x/y/z plot'{scripts}")
    override = dict(body.override_settings or {})
    model_field = "sd_model_checkpoint"
    model = options.model
    if override.get("sd_model_checkpoint"):
        model_field = "override_settings.sd_model_checkpoint"
        model = options.resolve_model(model_field, override.pop("sd_model_checkpoint"))
    override.pop("sd_model_checkpoint", None)
    clip_skip = check_clip_skip("override_settings.CLIP_stop_at_last_layers",
                                override.pop("CLIP_stop_at_last_layers", options.clip_skip))
    vae = check_vae("override_settings.sd_vae", override.pop("sd_vae", options.vae), options.library)
    decode = check_decode_method("override_settings.sd_vae_decode_method",
                                 override.pop("sd_vae_decode_method", options.decode_method))
    if override:
        warnings.append("override_settings: Easel uses sd_model_checkpoint, CLIP_stop_at_last_layers, sd_vae and "
                        "sd_vae_decode_method; "
                        f"ignored: {', '.join(map(str, override))}")
    warnings += [f"options.{name}: set through /sdapi/v1/options, but Easel does not use it; ignored"
                 for name in options.not_honoured()]
    try:
        sampler = easel_sampler(body.sampler_name or body.sampler_index, body.scheduler, warnings)
    except ValueError as error:
        raise InvalidRequest("scheduler", str(error)) from None
    batch = body.batch_size if body.batch_size is not None else 1
    batches = body.n_iter if body.n_iter is not None else 1
    if not 1 <= batches <= limits.max_batch:
        raise InvalidRequest("n_iter", f"must be from 1 to {limits.max_batch}, got {batches}")
    seed = -1 if body.seed is None else body.seed
    if seed == -1:  # resolved here, so that every batch continues where the one before ended
        seed = random.randrange(MAX_SEED - max(1, min(batch, limits.max_batch)) * batches)
    subseed = -1 if body.subseed is None else body.subseed
    strength = body.subseed_strength or 0
    if subseed == -1 and isinstance(strength, (int, float)) and strength > 0:  # as the seed: every batch continues
        subseed = random.randrange(MAX_SEED - max(1, min(batch, limits.max_batch)) * batches)
    variation = _given(subseed_strength=body.subseed_strength, seed_resize_from_w=body.seed_resize_from_w,
                       seed_resize_from_h=body.seed_resize_from_h)
    restorer, codeformer_weight = options.face_restorer(body.restore_faces)
    refiner = None  # A1111 names it by its title ("name [hash]") or file, as it names the model
    if body.refiner_checkpoint and body.refiner_checkpoint.strip() not in ("", "None"):
        refiner = options.resolve_model("refiner_checkpoint", body.refiner_checkpoint)
    common = dict(model=model, prompt=body.prompt, negative_prompt=body.negative_prompt, batch_size=batch,
                  restore_faces=restorer, codeformer_weight=codeformer_weight, refiner=refiner,
                  **_given(refiner_switch_at=body.refiner_switch_at),
                  **_given(tiling=body.tiling, freeu=body.freeu, pag_scale=body.pag_scale,
                           feature_cache=body.feature_cache), **variation, decode=decode,
                  control_units=control.units, clip_skip=clip_skip, vae=None if vae in ("Automatic", "None") else vae,
                  styles=list(body.styles or []), **task,
                  **_given(steps=body.steps, guidance_scale=body.cfg_scale, sampler=sampler, width=body.width,
                           height=body.height, distilled_guidance=getattr(body, "distilled_cfg_scale", None)))
    last_seed = seed + batch * (batches - 1) if isinstance(seed, int) and isinstance(batch, int) else None
    if last_seed is not None and 0 <= seed <= MAX_SEED < last_seed:
        # refused before any batch runs, not after the first ones were made and thrown away
        raise InvalidRequest("seed", f"the last of {batches} batches would start at seed {last_seed}, past {MAX_SEED}; "
                                     f"use a seed up to {MAX_SEED - batch * (batches - 1)}")
    requests = [GenerationRequest(seed=seed + k * batch if seed >= 0 else seed,
                                  subseed=subseed + k * batch if isinstance(subseed, int) and subseed >= 0 else subseed,
                                  **common) for k in range(batches)]
    return Plan(kind=kind, requests=requests, seed=seed, subseed=subseed,
                echo=echo, control=control, model_field=model_field, send_images=body.send_images,
                save_images=body.save_images, warnings=warnings)


def _unsupported(body: Generation) -> list[str]:
    """What the request asks for that Easel does not do: the response says so."""
    notes = {
        "infotext": "Easel does not fill a request from an infotext",
    }
    return [f"{name}: {note}; ignored" for name, note in notes.items() if getattr(body, name)]


def _given(**values) -> dict:
    """The values the client set; the engine fills in the rest with the model's defaults."""
    return {name: value for name, value in values.items() if value is not None}
