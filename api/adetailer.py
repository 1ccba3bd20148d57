"""ADetailer's API (`alwayson_scripts.ADetailer.args`) as Easel's detailer (pipelines/detailer.py).

ADetailer takes `[enable, skip_img2img, unit, unit, ...]`, both booleans optional, each unit an object of `ad_*`
fields (adetailer/args.py, ADetailerArgs); a unit whose `ad_model` is "None" or whose `ad_tap_enable` is false
is off. The `ad_use_*` switches turn on the unit's own steps, CFG scale, sampler and inpaint size, as there.
What Easel does not do per unit (another checkpoint or VAE, noise multiplier, CLIP skip, face restoration,
ControlNet) is named in the warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from fastapi import APIRouter

from pipelines import DETAILER_MODELS, Detailer, DetailerUnit, InvalidRequest

from .errors import A1111Route
from .samplers import easel_sampler

SCRIPT = "adetailer"  # matched without case: clients write "ADetailer"
# ADetailer's switches that turn a unit's own setting on: switch -> the settings it brings
SWITCHES = {"ad_use_inpaint_width_height": ("ad_inpaint_width", "ad_inpaint_height"), "ad_use_steps": ("ad_steps",),
            "ad_use_cfg_scale": ("ad_cfg_scale",), "ad_use_sampler": ("ad_sampler", "ad_scheduler")}
NOT_HONOURED = {
    "ad_use_checkpoint": "Easel details with the picture's own model",
    "ad_use_vae": "Easel details with the picture's own VAE",
    "ad_use_noise_multiplier": "Easel has no noise multiplier",
    "ad_use_clip_skip": "Easel details with the picture's CLIP skip",
    "ad_restore_face": "Easel restores faces in Extras",
}
IGNORED_QUIETLY = {"is_api", "ad_tap_enable", "ad_tab_enable", "ad_checkpoint", "ad_vae", "ad_noise_multiplier", "ad_clip_skip",
                   "ad_controlnet_module", "ad_controlnet_weight", "ad_controlnet_guidance_start",
                   "ad_controlnet_guidance_end", "ad_model_classes", *SWITCHES,
                   *(name for brought in SWITCHES.values() for name in brought)}
DIRECT = {f"ad_{field.name}" for field in fields(DetailerUnit)} - {"ad_inpaint_width", "ad_inpaint_height",
                                                                    "ad_steps", "ad_cfg_scale", "ad_sampler"}


@dataclass
class DetailerPlan:
    detailer: Detailer | None
    fields: dict  # engine field ("ad_confidence", "detailer[1].ad_steps") -> the client's


def is_adetailer(key) -> bool:
    return str(key).lower() == SCRIPT


def detailer_plan(alwayson_scripts: dict, warnings: list[str]) -> DetailerPlan:
    found = [(key, script) for key, script in (alwayson_scripts or {}).items() if is_adetailer(key)]
    if not found:
        return DetailerPlan(None, {})
    key, script = found[0]
    where = f"alwayson_scripts.{key}.args"
    args = script.get("args") if isinstance(script, dict) else None
    if not isinstance(args, list):
        raise InvalidRequest(where, "must be a list: [enable, skip_img2img, unit, ...], the booleans optional")
    position, enable, skip = 0, True, False
    if position < len(args) and isinstance(args[position], bool):
        enable, position = args[position], position + 1
    if position < len(args) and isinstance(args[position], bool):
        skip, position = args[position], position + 1
    units, client_fields = [], {}
    for place in range(position, len(args)):
        given = args[place]
        if not isinstance(given, dict):
            raise InvalidRequest(f"{where}[{place}]", "must be an object of ad_* fields")
        # ad_tab_enable: webuiapi's spelling of ADetailer's ad_tap_enable
        if str(given.get("ad_model", "None")) == "None" or False in (given.get("ad_tap_enable"),
                                                                     given.get("ad_tab_enable")):
            continue
        prefix = "" if not units else f"detailer[{len(units)}]."
        client_fields.update({f"{prefix}ad_{field.name}": f"{where}[{place}].ad_{field.name}"
                              for field in fields(DetailerUnit)})
        units.append(_unit(given, f"{where}[{place}]", warnings))
    if not enable or not units:
        return DetailerPlan(None, {})
    client_fields["adetailer"] = f"alwayson_scripts.{key}"
    return DetailerPlan(Detailer(units=units, skip_img2img=skip), client_fields)


def adetailer_router() -> APIRouter:
    """ADetailer's route that clients ask which detectors there are (its /adetailer/v1/ad_model)."""
    router = APIRouter(prefix="/adetailer/v1", route_class=A1111Route)

    @router.get("/ad_model")
    async def models():
        return {"ad_model": ["None", *DETAILER_MODELS]}

    return router


def _unit(given: dict, where: str, warnings: list[str]) -> DetailerUnit:
    values = {name[3:]: value for name, value in given.items() if name in DIRECT and value is not None}
    if given.get("ad_use_inpaint_width_height"):
        values.update(inpaint_width=given.get("ad_inpaint_width", 512), inpaint_height=given.get("ad_inpaint_height", 512))
    if given.get("ad_use_steps"):
        values["steps"] = given.get("ad_steps", 28)
    if given.get("ad_use_cfg_scale"):
        values["cfg_scale"] = given.get("ad_cfg_scale", 7.0)
    if given.get("ad_use_sampler"):
        scheduler = given.get("ad_scheduler")
        scheduler = None if scheduler in (None, "Use same scheduler") else scheduler
        try:
            values["sampler"] = easel_sampler(given.get("ad_sampler", "DPM++ 2M Karras"), scheduler, warnings)
        except ValueError as error:
            raise InvalidRequest(f"{where}.ad_scheduler", str(error)) from None
    for switch, why in NOT_HONOURED.items():
        if given.get(switch):
            warnings.append(f"{where}.{switch}: {why}; not used")
    if str(given.get("ad_controlnet_model", "None")) != "None":
        warnings.append(f"{where}.ad_controlnet_model: Easel's detailer uses no ControlNet; not used")
    unknown = sorted(set(given) - DIRECT - IGNORED_QUIETLY - set(NOT_HONOURED) - {"ad_controlnet_model"})
    if unknown:
        warnings.append(f"{where}: ADetailer has no field {', '.join(unknown)}; not used")
    return DetailerUnit(**values)
