"""Easel: an AI image studio. `python app.py --help` lists the flags.

Here the parts meet: server/ (the settings, the login, the API's guards), the engine from `pipelines`, the page
from ui/ and the AUTOMATIC1111-compatible API from api/. Neither ui/ nor api/ imports the other.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

from starlette.middleware import Middleware

from server import app_settings, picture_store
from server.access import LoginRequired
from ui import zerogpu
from ui.assets import PAGE_JS, STYLE_CSS
from ui.common import EngineInfo

log = logging.getLogger("easel")


def build_app(settings: app_settings.AppSettings):
    """The engine and the page, without launching: tests and Spaces use this too."""

    from pipelines import BUILTIN_UPSCALERS, FAMILIES, SAMPLERS, LazyManager, Library
    from ui.studio import build

    library_file = settings.models
    if settings.demo and not library_file:
        from pipelines import write_tiny_models

        library_file = str(write_tiny_models(settings.demo_models_dir))
    library = Library.from_file(library_file) if library_file else Library.builtin()
    models_dirs, styles = list(settings.models_dirs), settings.styles
    if settings.demo and not settings.models:  # the tiny models' LoRAs, embedding, VAE and styles: an A1111 folder
        from pipelines import tiny_extras_dir

        models_dirs.append(tiny_extras_dir(library_file))
        styles = styles or tiny_extras_dir(library_file).parent / "styles.csv"
    for warning in library.add_folders(models_dirs, styles or settings.default_styles):
        log.warning("%s", warning)
    if settings.model:
        library.default = settings.model
    if settings.demo and settings.engine.safety_checker and not settings.safety_checker_given:
        from pipelines import write_tiny_safety_checker  # the demo's checker: tiny, random, and it flags nothing

        folder = Path(library_file).parent / "safety-checker"
        settings.engine.safety_checker = str(write_tiny_safety_checker(folder, flag=False))
    manager = LazyManager(library, settings.engine)  # torch and diffusers are imported after the page is up
    default = library.models.get(library.default)
    limits = settings.engine.limits
    info = EngineInfo(
        models=list(library.models), model_labels=library.model_choices(), default_model=library.default, samplers=list(SAMPLERS),
        control_types=sorted(library.control_types_by_family()),
        default_sampler=FAMILIES["sd1"].default_sampler,
        default_size=(default.default_size if default and default.default_size else FAMILIES["sd1"].default_size),
        default_steps=(4 if default and default.turbo else FAMILIES["sd1"].default_steps),
        max_steps=limits.max_steps, max_batch=limits.max_batch, max_side=limits.max_side, demo=settings.demo,
        vaes=sorted(library.vaes()), styles=sorted(library.styles()),
        upscalers=[*BUILTIN_UPSCALERS, *sorted(library.upscalers())], face_restorers=sorted(library.face_restorers()),
        ip_adapters=list(library.ip_adapters()), default_decode=settings.engine.decode,
    )
    max_age = None if settings.keep_hours is None else max(1, int(settings.keep_hours * 3600))
    store = picture_store.store_for(settings.outputs) if settings.outputs else None  # the gallery, kept on disk
    demo = build(manager, info, settings.outputs, settings.save_format, settings.keep_pictures, max_age, store,
                 private=bool(settings.auth) or settings.exposed)
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=1, api_open=not settings.exposed)
    return demo, manager


def launch_options(settings: app_settings.AppSettings, manager=None) -> dict:
    """`demo.launch` keyword arguments; with the manager, the AUTOMATIC1111-compatible API is served too."""
    app_kwargs = {}
    if settings.auth:
        app_kwargs["middleware"] = [Middleware(LoginRequired)]
    if settings.api and manager is not None:
        from api import api_routes
        from server.body_limit import BodyLimit
        from server.same_origin import SameOrigin

        # In the app from its start, before the server accepts connections; the engine is imported later.
        app_kwargs["routes"] = api_routes(manager, settings)
        # Pictures come inline as base64 (4/3 of their size), several per request: a few uploads' worth.
        app_kwargs["middleware"] = [*app_kwargs.get("middleware", []), Middleware(SameOrigin),
                                    Middleware(BodyLimit, max_bytes=4 * app_settings.parse_bytes(settings.max_upload))]
    # No allowed_paths: over HTTP only Gradio's own cache (uploads, and the pictures handed to the page)
    # is served, never the outputs folder, the models or the source.
    return dict(
        server_name=settings.host, server_port=settings.port, share=settings.share,
        auth=settings.auth or None, max_file_size=settings.max_upload, state_session_capacity=settings.max_sessions,
        css_paths=[str(STYLE_CSS)], js=PAGE_JS.read_text(encoding="utf-8"), footer_links=["api", "gradio"], show_error=False,
        app_kwargs=app_kwargs or None,
    )


def start(settings: app_settings.AppSettings, **launch):
    """Build the studio and launch it, with the engine started where the platform wants it: (demo, manager).

    Elsewhere the page comes first and the engine is imported while the user types (`main` warms it up).
    On ZeroGPU the documented pattern comes first: the default model is loaded and placed on "cuda" before
    the server starts, outside any GPU call; the `spaces` package keeps those weights for every GPU call.
    """
    demo, manager = build_app(settings)
    if zerogpu.active():
        manager.preload(None, on_device=True)
    demo.launch(**launch_options(settings, manager), prevent_thread_lock=True, **launch)
    return demo, manager


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    if zerogpu.active():
        # "Try importing `spaces` before any other CUDA-related package" (the spaces package's own message):
        # it stands in for CUDA outside GPU calls, which works only if torch has not started CUDA yet.
        import spaces  # noqa: F401
    settings = app_settings.parse(argv)
    if settings.exposed and not settings.auth:
        print("\n" + "!" * 78 + "\n  WARNING: Easel is reachable by others (share link, --host or a Space) and has no "
              "login.\n  Anyone with the address can use your machine. Add --auth USER:PASS.\n" + "!" * 78 + "\n",
              file=sys.stderr)
    demo = None
    try:
        demo, manager = start(settings)
        manager.warm_up()  # the page is up: import the engine while the user types
    except Exception as error:  # noqa: BLE001 - e.g. --device cuda without a GPU: say it once and stop
        log.error("the engine could not start: %s: %s", type(error).__name__, error)
        if demo is not None:
            demo.close()
        sys.exit(1)
    # A stop from the platform (docker stop, systemd, a Space restarting) closes the server as Ctrl-C does, so
    # Gradio and the runner delete their temporary files.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    demo.block_thread()


if __name__ == "__main__":
    main()
