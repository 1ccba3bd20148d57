"""A1111's upscaler routes: GET /sdapi/v1/upscalers and latent-upscale-modes, POST /sdapi/v1/extra-single-image and extra-batch-images.

The list is A1111's: the built-in "None", "Lanczos" and "Nearest", then the model folders' upscaler files by
name. An upscale runs through the job queue on the device, like a generation. What Easel's Extras does not do
(face restoration, for now) is named in `html_info`, never skipped silently. A second upscaler is blended in
at `extras_upscaler_2_visibility`, and "scale to" cuts the picture to the size asked when `upscaling_crop`.
"""

from __future__ import annotations

import io

from fastapi import Request
from PIL import Image

from pipelines import BUILTIN_UPSCALERS, HIRES_LATENT_MODES, InvalidRequest, png_of

from .jobs import Job
from .pictures import base64_text, decode_picture
from .schemas import ExtraBatchImages, ExtraSingleImage

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

    @router.get("/latent-upscale-modes")
    def latent_upscale_modes():  # the hires fix's latent upscalers, as A1111 lists them
        return [{"name": name} for name in HIRES_LATENT_MODES]

    @router.post("/extra-single-image")
    async def extra_single_image(body: ExtraSingleImage, request: Request):
        data = decode_picture("image", body.image)
        if data is None:
            raise InvalidRequest("image", "is missing: send the picture as base64")
        return await context.jobs.run(Job("extras"), lambda: _upscale(context.manager, data, body), request)

    @router.post("/extra-batch-images")
    async def extra_batch_images(body: ExtraBatchImages, request: Request):
        pictures = [decode_picture(f"imageList[{i}].data", item.data) for i, item in enumerate(body.imageList)]
        pictures = [data for data in pictures if data is not None]
        return await context.jobs.run(Job("extras", len(pictures)),
                                      lambda: _upscale_batch(context.manager, pictures, body), request)


def _upscale(manager, data: bytes, body) -> dict:
    """One picture through A1111's extras: by a factor, or to a size (cut to it when `upscaling_crop`)."""
    not_done = [f"{field}: face restoration is not in Easel yet"
                for field in ("gfpgan_visibility", "codeformer_visibility") if getattr(body, field)]
    scale, crop_to = body.upscaling_resize, None
    if body.resize_mode == 1:  # "scale to": the factor that covers the asked size, as A1111 computes it
        with Image.open(io.BytesIO(data)) as picture:
            scale = max(body.upscaling_resize_w / picture.width, body.upscaling_resize_h / picture.height)
        crop_to = (body.upscaling_resize_w, body.upscaling_resize_h) if body.upscaling_crop else None
    made, infotext = manager.upscale(data, body.upscaler_1, scale, body.upscaler_2, body.extras_upscaler_2_visibility,
                                     crop_to)
    html_info = infotext + "".join(f"\n⚠ not honoured: {line}" for line in not_done)
    return {"html_info": html_info, "image": base64_text(png_of(made, infotext))}


def _upscale_batch(manager, pictures: list[bytes], body) -> dict:
    answers = [_upscale(manager, data, body) for data in pictures]
    return {"html_info": answers[0]["html_info"] if answers else "", "images": [a["image"] for a in answers]}
