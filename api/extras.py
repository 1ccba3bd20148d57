"""A1111's upscaler routes: GET /sdapi/v1/upscalers and POST /sdapi/v1/extra-single-image (its Extras tab).

The list is A1111's: the built-in "None", "Lanczos" and "Nearest", then the model folders' upscaler files by
name. An upscale runs through the job queue on the device, like a generation. What Easel's Extras does not do
(face restoration, a second upscaler, cropping to a size) is named in `html_info`, never skipped silently.
"""

from __future__ import annotations

import io

from fastapi import Request
from PIL import Image

from pipelines import BUILTIN_UPSCALERS, InvalidRequest, png_of

from .jobs import Job
from .pictures import base64_text, decode_picture
from .schemas import ExtraSingleImage

MODEL_SCALE = 4.0  # what A1111 reports for an upscaler until its model is loaded


def upscaler_list(library) -> list[dict]:
    builtin = [{"name": name, "model_name": None, "model_path": None, "model_url": None, "scale": MODEL_SCALE}
               for name in BUILTIN_UPSCALERS]
    found = [{"name": name, "model_name": name, "model_path": str(file.path), "model_url": None,
              "scale": MODEL_SCALE} for name, file in sorted(library.upscalers().items())]
    return builtin + found


def extras_routes(router, context) -> None:
    @router.get("/upscalers")
    def upscalers():
        return upscaler_list(context.manager.library)

    @router.post("/extra-single-image")
    async def extra_single_image(body: ExtraSingleImage, request: Request):
        data = decode_picture("image", body.image)
        if data is None:
            raise InvalidRequest("image", "is missing: send the picture as base64")
        return await context.jobs.run(Job("extras"), lambda: _upscale(context.manager, data, body), request)


def _upscale(manager, data: bytes, body: ExtraSingleImage) -> dict:
    not_done = []
    if body.upscaler_2 not in (None, "", "None") and body.extras_upscaler_2_visibility:
        not_done.append(f"upscaler_2 ({body.upscaler_2}): Easel blends no second upscaler")
    for field in ("gfpgan_visibility", "codeformer_visibility"):
        if getattr(body, field):
            not_done.append(f"{field}: face restoration is not in Easel yet")
    scale = body.upscaling_resize
    if body.resize_mode == 1:  # "scale to": the factor that reaches the asked width, as A1111 computes it
        with Image.open(io.BytesIO(data)) as picture:
            scale = max(body.upscaling_resize_w / picture.width, body.upscaling_resize_h / picture.height)
        if body.upscaling_crop:
            not_done.append("upscaling_crop: the picture is scaled, not cropped to the asked size")
    made, infotext = manager.upscale(data, body.upscaler_1, scale)
    html_info = infotext + "".join(f"\n⚠ not honoured: {line}" for line in not_done)
    return {"html_info": html_info, "image": base64_text(png_of(made, infotext))}
