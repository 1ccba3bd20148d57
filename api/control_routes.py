"""The ControlNet extension's routes (/controlnet/...): its version, models, modules, settings, and detect."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from pipelines import ControlUnit, GenerationRequest, InvalidRequest, png_of

from .control_names import TYPE_OF_PREPROCESSOR, control_types, model_list, module_detail, module_list, preprocessor_of
from .control_units import preprocessor_parameters
from .errors import A1111Route, message_of
from .jobs import Job
from .pictures import base64_text, decode_picture
from .schemas import Detect

API_VERSION = 2  # the extension's external_code.get_api_version()
# The engine's field names in a detect request -> the client's; pictures are named per index.
_DETECT_FIELDS = {"low_threshold": "controlnet_threshold_a", "high_threshold": "controlnet_threshold_b",
                  "thr_v": "controlnet_threshold_a", "thr_d": "controlnet_threshold_b",
                  "downsample": "controlnet_threshold_a", "detect_resolution": "controlnet_processor_res",
                  "preprocessor": "controlnet_module", "model": "sd_model_checkpoint"}


def controlnet_router(context) -> APIRouter:
    router = APIRouter(prefix="/controlnet", route_class=A1111Route)

    @router.get("/version")
    async def version():
        return {"version": API_VERSION}

    @router.get("/model_list")
    def models(update: bool = True):
        return {"model_list": model_list(context.manager.library)}

    @router.get("/module_list")
    async def modules(alias_names: bool = False):
        return {"module_list": module_list(alias_names), "module_detail": module_detail()}

    @router.get("/control_types")
    def types():
        return {"control_types": control_types(context.manager.library)}

    @router.get("/settings")
    async def settings():
        units = context.limits.max_control_units
        return {"control_net_unit_count": units, "control_net_max_models_num": units}

    @router.post("/detect")
    async def detect(body: Detect, request: Request):
        images = body.controlnet_input_images or body.controlnet_images
        if not images:
            raise InvalidRequest("controlnet_input_images", "no picture: send one or more base64 pictures")
        preprocessor = preprocessor_of(body.controlnet_module)
        if preprocessor is None:
            raise InvalidRequest("controlnet_module", f"unknown module {body.controlnet_module!r}; Easel has: "
                                                      f"{', '.join(module_list())}")
        # Decoding megabytes of base64 in a thread: the event loop serves every other user meanwhile.
        pictures = await run_in_threadpool(
            lambda: [_required(f"controlnet_input_images[{i}]", text) for i, text in enumerate(images)])
        masks = await run_in_threadpool(
            lambda: [decode_picture(f"controlnet_masks[{i}]", text) for i, text in enumerate(body.controlnet_masks)])
        params = preprocessor_parameters({"processor_res": body.controlnet_processor_res,
                                          "threshold_a": body.controlnet_threshold_a,
                                          "threshold_b": body.controlnet_threshold_b}, preprocessor, (None, None))

        def work():
            return [_detect(context, i, picture, masks[i] if i < len(masks) else None, preprocessor, params)
                    for i, picture in enumerate(pictures)]

        maps = await context.jobs.run(Job("controlnet_detect"), work, request)
        return {"images": [base64_text(png_of(control_map, "")) for control_map in maps], "info": "Success"}

    return router


def _required(field: str, text) -> bytes:
    data = decode_picture(field, text)
    if data is None:
        raise InvalidRequest(field, "is empty: send a base64 picture")
    return data


def _detect(context, index: int, picture: bytes, mask: bytes | None, preprocessor: str, params: dict):
    """One picture's map, made by the engine's preprocessing at the picture's own size."""
    model = context.options.model
    # Validation checks a unit's control type against the model's family; any type the library has for it
    # will do, since only the preprocessor runs.
    available = context.manager.control_types(model)
    wanted = TYPE_OF_PREPROCESSOR.get(preprocessor)
    control_type = wanted if wanted in available else (available[0] if available else None)
    if control_type is None:
        raise InvalidRequest("sd_model_checkpoint", f"the model library has no ControlNet for {model}, and detect "
                                                    "runs with the current model's ControlNets")
    request = GenerationRequest(task="controlnet", model=model, image=picture, mask=mask, seed=0, control_units=[
        ControlUnit(control_type, image=picture, preprocessor=preprocessor, preprocessor_params=params)])
    try:
        return context.manager.preprocess(request)[0]
    except InvalidRequest as error:
        picture_field = f"controlnet_input_images[{index}]"
        fields = {**_DETECT_FIELDS, "image": picture_field, "control_image": picture_field, "width": picture_field,
                  "height": picture_field, "mask": f"controlnet_masks[{index}]"}
        raise InvalidRequest(fields.get(error.field, error.field), message_of(error)) from None
