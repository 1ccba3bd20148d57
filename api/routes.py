"""The /sdapi/v1 routes: generation, the lists clients read on connect, options, progress, and the small ones.

Routes that only read the library are plain functions (FastAPI runs them in a thread: the first one may
wait for the engine to import); routes that use the device go through the job queue.
"""

from __future__ import annotations

from typing import Any

import psutil
from fastapi import APIRouter, Body, Request
from starlette.concurrency import run_in_threadpool

from .checkpoints import checkpoint_list
from .errors import A1111Route
from .extra_networks import extra_network_routes
from .extras import extras_routes
from .generation import generate
from .jobs import Job
from .outpaint_scripts import LISTED as OUTPAINT_SCRIPTS
from .picture_info import picture_info
from .samplers import SCHEDULERS, sampler_list
from .schemas import Img2Img, PngInfo, Txt2Img
from .translate import img2img_plan, txt2img_plan

# webuiapi looks for "controlnet m2m" to know the ControlNet extension is there; it then sends an empty
# unit list with every request that has none, which keeps its previous call's units from coming back.
SCRIPTS = ["controlnet", "controlnet m2m", "adetailer", "x/y/z plot"]  # "adetailer": webuiapi then sends its ADetailer units


def sdapi_router(context) -> APIRouter:
    router = APIRouter(prefix="/sdapi/v1", route_class=A1111Route)

    @router.post("/txt2img")
    async def txt2img(body: Txt2Img, request: Request):
        plan = await run_in_threadpool(txt2img_plan, body, context.options, context.limits)
        return await generate(context, plan, request)

    @router.post("/img2img")
    async def img2img(body: Img2Img, request: Request):
        plan = await run_in_threadpool(img2img_plan, body, context.options, context.limits)
        return await generate(context, plan, request)

    @router.get("/progress")
    def progress(skip_current_image: bool = False):  # in a thread: encoding the preview takes a moment
        return context.jobs.progress(with_image=not skip_current_image)

    @router.post("/interrupt")
    async def interrupt():
        job = context.jobs.current()
        if job is not None:
            job.interrupt()
        return {}

    @router.post("/skip")
    async def skip():
        job = context.jobs.current()
        if job is not None:
            job.skip()
        return None

    @router.get("/sd-models")
    def sd_models():
        return checkpoint_list(context.manager.library)

    @router.get("/samplers")
    def samplers():
        return sampler_list()

    @router.get("/schedulers")
    def schedulers():
        return SCHEDULERS

    @router.get("/options")
    def get_options():
        return context.options.as_dict()

    @router.post("/options")
    def set_options(values: dict[str, Any] = Body(...)):
        context.options.update(values)
        return None

    @router.post("/png-info")
    def read_png_info(body: PngInfo):
        return picture_info(body.image, context.limits)

    @router.post("/unload-checkpoint")
    async def unload_checkpoint(request: Request):
        await context.jobs.run(Job("unload"), context.manager.unload, request)
        return {}

    @router.post("/reload-checkpoint")
    async def reload_checkpoint(request: Request):
        await context.jobs.run(Job("reload"), lambda: context.manager.preload(context.options.model), request)
        return {}

    @router.get("/memory")
    def memory():
        ram = psutil.virtual_memory()
        status = context.manager.status()
        return {
            "ram": {"free": ram.available, "used": ram.total - ram.available, "total": ram.total},
            # Easel's engine measures what it places, not the whole device: its own figures are under "easel".
            "cuda": {"error": "unavailable" if not str(status["device"]).startswith("cuda") else "see 'easel'"},
            "easel": {"device": status["device"], "weights_on_device_bytes": status["on_device_bytes"],
                      "device_budget_bytes": status["budget_bytes"], "weights_in_ram_bytes": status["in_ram_bytes"],
                      "busy": status["busy"]},
        }

    @router.get("/scripts")
    def scripts():
        return {"txt2img": SCRIPTS, "img2img": SCRIPTS + OUTPAINT_SCRIPTS}

    @router.get("/cmd-flags")
    def cmd_flags():
        settings = context.settings
        return {"api": True, "listen": settings.host not in ("127.0.0.1", "localhost", "::1"), "port": settings.port,
                "share": settings.share, "ckpt_dir": None, "lowvram": settings.engine.offload == "sequential",
                "medvram": settings.engine.offload == "model"}

    # What Easel does not have: empty lists, so that clients which list them on connect carry on.
    for path, answer in {"/hypernetworks": [],
                         "/realesrgan-models": [], "/script-info": [], "/extensions": []}.items():
        router.add_api_route(path, _constant(answer), methods=["GET"])
    extra_network_routes(router, context)
    extras_routes(router, context)
    return router


def _constant(answer):
    async def constant():
        return answer

    return constant
