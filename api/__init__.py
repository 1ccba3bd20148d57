"""An AUTOMATIC1111-compatible HTTP API (and the ControlNet extension's), served next to the studio's pages.

Clients written for A1111 (webuiapi, painting-program plugins, scripts) call `/sdapi/v1/txt2img`,
`/sdapi/v1/img2img`, `/controlnet/...`, `/adetailer/v1/...` on the studio's own address. Each request is translated into
Easel's GenerationRequest (translate.py, control_units.py), queued with the pages' runs on the same
engine and device lock (jobs.py), and answered in A1111's shapes (results.py, errors.py). Nothing here
imports torch, diffusers or Gradio, nor the page (ui/): the engine is reached through the manager only, and
its types from the `pipelines` package top; the login, the body cap and the same-origin check that guard
these routes are server/'s.

    routes = api_routes(manager, settings)   # FastAPI routes, for the app the studio launches
"""

from __future__ import annotations

from pipelines import Engine
from server.app_settings import AppSettings

from .adetailer import adetailer_router
from .context import ApiContext
from .control_routes import controlnet_router
from .routes import sdapi_router


def api_routes(manager: Engine, settings: AppSettings) -> list:
    """The routes of both APIs over `manager`, bounded by the studio's queue size and limits."""
    context = ApiContext.for_studio(manager, settings)
    return [*sdapi_router(context).routes, *controlnet_router(context).routes, *adetailer_router().routes]
