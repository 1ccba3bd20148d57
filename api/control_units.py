"""ControlNet units as the extension's clients send them (`alwayson_scripts.controlnet.args`), turned into
Easel's ControlUnits; and the engine's names for unit fields turned back into the client's.

Leniencies, on purpose: enums as strings or numbers, a unit without `enabled` counts as enabled, and a
unit that cannot run (no picture, an unknown module or model) is an error naming its field, where the
extension would skip it silently and the client would get a picture made without it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipelines import ControlUnit, ImagePrompt, InvalidRequest

from .control_names import (THRESHOLDS, control_type_and_entry, is_ip_adapter_module, model_list, module_list,
                            preprocessor_of)
from .pictures import decode_picture

SCRIPT = "controlnet"
RESIZE_MODES = {"just resize": "resize", "crop and resize": "crop", "resize and fill": "fill",
                "inner fit (scale to fit)": "crop", "scale to fit (inner fit)": "crop",
                "outer fit (shrink to fit)": "fill", "envelope (outer fit)": "fill", "0": "resize", "1": "crop",
                "2": "fill", "3": "resize"}
CONTROL_MODES = {"balanced": 0, "my prompt is more important": 1, "controlnet is more important": 2,
                 "0": 0, "1": 1, "2": 2}
_ALIASES = {"input_image": "image", "lowvram": "low_vram", "guidance": "guidance_end", "mask_image": "mask"}
# The engine's names for unit fields -> the extension's.
_UNIT_FIELDS = {"control_type": "model", "model": "model", "control_image": "image", "conditioning_scale": "weight",
                "start": "guidance_start", "end": "guidance_end", "preprocessor": "module",
                "preprocessor_params": "module", "detect_resolution": "processor_res", "low_threshold": "threshold_a",
                "high_threshold": "threshold_b", "thr_v": "threshold_a", "thr_d": "threshold_b",
                "downsample": "threshold_a"}
_INDEXED = re.compile(r"^control_units\[(\d+)\]\.(\w+)$")
_IMAGE_PROMPT = re.compile(r"^image_prompts\[(\d+)\](?:\.(\w+))?$")
_HASH = re.compile(r"\s*\[[0-9a-fA-F]+\]$")


@dataclass
class ControlPlan:
    units: list[ControlUnit] = field(default_factory=list)
    args_index: list[int] = field(default_factory=list)  # each unit's place in the client's args
    save_maps: list[bool] = field(default_factory=list)  # whether its detected map goes back to the client
    resize_mode: str | None = None  # the first unit's: Easel fits every picture of a run one way
    script_key: str = SCRIPT  # as the client spelt it ("ControlNet", "controlnet")
    image_prompts: list[ImagePrompt] = field(default_factory=list)  # the IP-Adapter units, as image prompts
    image_prompt_index: list[int] = field(default_factory=list)  # each one's place in the client's args

    def client_field(self, engine_field: str) -> str | None:
        """The client's name for an engine field of a unit; None if the field is not a unit's."""
        prefix = f"alwayson_scripts.{self.script_key}.args"
        if engine_field in ("control_units", "image_prompts"):
            return prefix
        image_prompt = _IMAGE_PROMPT.match(engine_field)
        if image_prompt:
            index = int(image_prompt.group(1))
            where = self.image_prompt_index[index] if index < len(self.image_prompt_index) else index
            return f"{prefix}[{where}]" + (f".{image_prompt.group(2)}" if image_prompt.group(2) else "")
        indexed = _INDEXED.match(engine_field)
        if indexed:
            index, name = int(indexed.group(1)), indexed.group(2)
        elif engine_field in _UNIT_FIELDS and engine_field != "model" and len(self.units) == 1:
            index, name = 0, engine_field
        else:
            return None
        where = self.args_index[index] if index < len(self.args_index) else index
        return f"{prefix}[{where}].{_UNIT_FIELDS.get(name, name)}"


def control_plan(alwayson_scripts: dict, library, init_image: bytes | None, size: tuple, warnings: list[str]) -> ControlPlan:
    """The enabled ControlNet units of a request (none: an empty plan). Other always-on scripts are not
    Easel's: they are skipped, and the response's warnings say so."""
    plan = ControlPlan()
    for key, script in (alwayson_scripts or {}).items():
        if str(key).lower() != SCRIPT:
            if str(key).lower() != "adetailer":  # the detailer's, read in adetailer.py
                warnings.append(f"alwayson_scripts: Easel has no script {key!r}; it was skipped")
            continue
        plan.script_key = key
        if not isinstance(script, dict):
            raise InvalidRequest(f"alwayson_scripts.{key}", 'must be an object: {"args": [unit, ...]}')
        args = script.get("args") or []
        if not isinstance(args, list):
            raise InvalidRequest(f"alwayson_scripts.{key}.args", "must be a list of ControlNet units")
        for index, unit in enumerate(args):
            _add_unit(plan, f"alwayson_scripts.{key}.args[{index}]", index, unit, library, init_image, size, warnings)
    return plan


def _add_unit(plan: ControlPlan, where: str, index: int, unit, library, init_image, size, warnings) -> None:
    if not isinstance(unit, dict):
        raise InvalidRequest(where, "must be an object (a ControlNet unit)")
    unit = {_ALIASES.get(k, k): v for k, v in unit.items()}
    if not _flag(unit.get("enabled", True)):
        return
    module = unit.get("module")
    if is_ip_adapter_module(module):  # the extension's IP-Adapter units: a reference picture, not a ControlNet
        _add_image_prompt(plan, where, index, unit, init_image, warnings)
        return
    preprocessor = preprocessor_of(module)
    if preprocessor is None:
        raise InvalidRequest(f"{where}.module", f"unknown module {module!r}; Easel has: {', '.join(module_list())}")
    control_type, entry = control_type_and_entry(library, unit.get("model"), preprocessor)
    if control_type is None:
        choices = ", ".join(model_list(library)) or "none"
        raise InvalidRequest(f"{where}.model", f"unknown ControlNet model {unit.get('model')!r}; choose one of: {choices}")
    image, mask = _image_and_mask(unit)
    picture = decode_picture(f"{where}.image", image)
    if mask is not None:
        warnings.append(f"{where}.mask: Easel does not use a unit's own mask; the request's mask is used for inpainting")
    if picture is None:
        if init_image is None:
            raise InvalidRequest(f"{where}.image", "is missing: send the control picture as base64")
        picture = init_image  # img2img: the extension guides with the init picture
    mode = RESIZE_MODES.get(str(unit.get("resize_mode", "Crop and Resize")).strip().lower())
    if mode is None:
        raise InvalidRequest(f"{where}.resize_mode", f"unknown value {unit.get('resize_mode')!r}; choose one of: "
                                                     "Just Resize, Crop and Resize, Resize and Fill (or 0, 1, 2)")
    control_mode = CONTROL_MODES.get(str(unit.get("control_mode", "Balanced")).strip().lower())
    if control_mode is None:
        raise InvalidRequest(f"{where}.control_mode", f"unknown value {unit.get('control_mode')!r}; choose one of: "
                                                      "Balanced, My prompt is more important, ControlNet is more important")
    if control_mode:
        warnings.append(f"{where}.control_mode: Easel runs every unit Balanced")
    plan.units.append(ControlUnit(
        control_type=control_type, image=picture, conditioning_scale=_value(unit, "weight", 1.0),
        start=_value(unit, "guidance_start", 0.0), end=_value(unit, "guidance_end", 1.0), preprocessor=preprocessor,
        preprocessor_params=preprocessor_parameters(unit, preprocessor, size), model=entry))
    plan.args_index.append(index)
    plan.save_maps.append(_flag(unit.get("save_detected_map", True)))
    plan.resize_mode = plan.resize_mode or mode
    if mode != plan.resize_mode:
        warnings.append(f"{where}.resize_mode: Easel fits every picture of a run the same way; the first unit's "
                        "resize mode was used")


def _add_image_prompt(plan: ControlPlan, where: str, index: int, unit: dict, init_image, warnings: list[str]) -> None:
    image, _ = _image_and_mask(unit)
    picture = decode_picture(f"{where}.image", image)
    if picture is None:
        if init_image is None:
            raise InvalidRequest(f"{where}.image", "is missing: send the reference picture as base64")
        picture = init_image
    model = unit.get("model")
    name = None if model in (None, "", "None") else _HASH.sub("", str(model).strip())
    if _value(unit, "guidance_start", 0.0) != 0.0 or _value(unit, "guidance_end", 1.0) != 1.0:
        warnings.append(f"{where}: Easel's image prompt acts on every step; guidance_start and guidance_end not used")
    plan.image_prompts.append(ImagePrompt(image=picture, weight=_value(unit, "weight", 1.0), model=name))
    plan.image_prompt_index.append(index)


def _image_and_mask(unit: dict):
    image, mask = unit.get("image"), unit.get("mask")
    if isinstance(image, list):  # a list of {"image", "mask"} (the first is used), or [image, mask]
        if image and isinstance(image[0], dict):
            image = image[0]
        else:
            image = {"image": image[0] if image else None, "mask": image[1] if len(image) > 1 else None}
    if isinstance(image, dict):
        image, mask = image.get("image"), image.get("mask") or mask
    return image, mask


def preprocessor_parameters(unit: dict, preprocessor: str, size: tuple) -> dict:
    """The preprocessor's settings from the unit's processor_res and thresholds. Like the extension, -1 (or
    any negative value) means the preprocessor's default; other values are checked by the engine."""
    params = {}
    width, height = size
    if _flag(unit.get("pixel_perfect", False)) and width and height:
        params["detect_resolution"] = min(int(width), int(height))  # the map is made at the output size
    elif not _default(unit.get("processor_res")):
        params["detect_resolution"] = unit["processor_res"]
    for name, value in zip(THRESHOLDS.get(preprocessor, ()), (unit.get("threshold_a"), unit.get("threshold_b"))):
        if name and not _default(value):
            params[name] = value
    return params


def _value(unit: dict, name: str, default):
    return default if unit.get(name) is None else unit[name]


def _default(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0)


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "no", "off", "")
    return bool(value)
