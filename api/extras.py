"""A1111's Extras routes: GET /sdapi/v1/upscalers, latent-upscale-modes and face-restorers, POST
/sdapi/v1/extra-single-image and extra-batch-images.

The upscaler list is A1111's: the built-in "None", "Lanczos" and "Nearest", then the model folders' upscaler
files by name; the face restorers are GFPGAN and CodeFormer, those with a model file. An Extras run goes
through the job queue, like a generation: upscaled (a second upscaler blended in at
`extras_upscaler_2_visibility`; "scale to" cut to the size asked when `upscaling_crop`), then its faces restored
at `gfpgan_visibility` / `codeformer_visibility`. A restorer that finds no face is named in `html_info`.
The answer's picture carries its parameters and record, as the pages' do.
"""

from __future__ import annotations

from fastapi import Request

from pipelines import BUILTIN_UPSCALERS, HIRES_LATENT_MODES, ExtrasRequest, InvalidRequest, picture_bytes

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

    @router.get("/face-restorers")
    def face_restorers():  # A1111 answers name and cmd_dir, the folder the model was found in
        return [{"name": name, "cmd_dir": str(file.path.parent)}
                for name, file in sorted(context.manager.library.face_restorers().items())]

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
    """One picture through A1111's extras: upscaled by a factor or to a size (cut to it when `upscaling_crop`),
    its faces restored; what could not be done (no face found) is named in html_info."""
    resize_to = (body.upscaling_resize_w, body.upscaling_resize_h) if body.resize_mode == 1 else None
    result = manager.postprocess(ExtrasRequest(
        image=data, upscaler=body.upscaler_1, scale=body.upscaling_resize, resize_to=resize_to, crop=body.upscaling_crop,
        upscaler_2=body.upscaler_2, upscaler_2_visibility=body.extras_upscaler_2_visibility,
        gfpgan_visibility=body.gfpgan_visibility, codeformer_visibility=body.codeformer_visibility,
        codeformer_weight=body.codeformer_weight))
    html_info = result.infotexts[0] + "".join(f"\n⚠ {note}" for note in result.warnings)
    return {"html_info": html_info, "image": base64_text(picture_bytes(result, 0))}


def _upscale_batch(manager, pictures: list[bytes], body) -> dict:
    answers = [_upscale(manager, data, body) for data in pictures]
    return {"html_info": answers[0]["html_info"] if answers else "", "images": [a["image"] for a in answers]}
