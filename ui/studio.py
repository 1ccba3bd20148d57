"""The whole page: a banner, one tab per task, the Models panel and the session history, wired together."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from . import controlnet, detailer, disk, extras, gallery, hires, img2img, inpaint, models, outpaint, png_info, refiner, txt2img, verify, xyz_plot
from .assets import STYLE_CSS
from pipelines import SHARED_NAMES, Engine
from pipelines import shared_in_order as in_order

from .common import EngineInfo, seed_of, selected_picture
from .runner import Runner

CSS_PATH = str(STYLE_CSS)  # app.py hands the same file to launch(css_paths=...)
TAB_LABELS = {"txt2img": "Text to image", "img2img": "Image to image", "inpaint": "Inpaint", "outpaint": "Outpaint",
              "controlnet": "ControlNet"}


@dataclass
class Studio:
    """What every tab needs: the engine, the runner that serves it to sessions, facts for the widgets."""

    manager: Engine
    runner: Runner
    info: EngineInfo
    history: gr.State = None


def build(manager: Engine, info: EngineInfo, outputs_dir: str | None, save_format: str = "png",
          keep_pictures: int | None = None, max_age: int | None = None, store=None, private: bool = False) -> gr.Blocks:
    """The page. The pictures it is handed stay on disk for `max_age` seconds at most, the newest
    `keep_pictures` of them in the runner's folder (defaults in disk.py: 1000, a day). `store`: the gallery's
    picture store (server/picture_store.py) over the outputs folder; `private`: each user sees only their own."""
    pruning = disk.cache_pruning(max_age)
    # delete_cache: Gradio deletes what it saved in its cache (uploads, ...) as it ages; the runner's files, the
    # pictures and previews, are its own to prune (disk.py).
    with gr.Blocks(title="Easel", delete_cache=pruning) as demo:
        files = disk.TempFiles(demo.GRADIO_CACHE, keep_pictures, max_age, sweep_every=pruning[0])
        studio = Studio(manager, Runner(manager, outputs_dir, save_format, files, store), info)
        gr.Markdown("# Easel", elem_id="title")
        if info.demo:
            gr.Markdown("**Demo mode:** these are tiny models with random weights, made on this machine. Every tab "
                        "works, but the pictures are noise. Start without `--demo` to use real models.",
                        elem_id="demo-banner")
        studio.history = gr.State([])  # per browser session: pictures and their parameters, newest first
        with gr.Tabs(overflow_behavior="wrap") as tabs:  # on a phone every tab stays in sight
            panels = {}
            for module in (txt2img, img2img, inpaint, outpaint, controlnet):
                with gr.Tab(TAB_LABELS[module.TAB], id=module.TAB):
                    panels[module.TAB] = module.create(studio)
            with gr.Tab("Extras", id="extras"):
                extras.create(studio)
            with gr.Tab("PNG Info", id="png-info"):
                info_panel = png_info.create(studio)
            with gr.Tab("Verify", id="verify"):
                verify.create(studio)
            with gr.Tab("Models", id="models"):
                models_report = models.create(studio)
            with gr.Tab("Gallery", id="gallery") as gallery_tab:
                gallery_panel = gallery.create(studio, store, private)
        gallery_panel.opened(gallery_tab)
        _wire_send_to(panels, tabs)
        # The Models report as it is when the page opens (on ZeroGPU the default model is loaded by then).
        demo.load(lambda: models.report(manager), None, models_report, api_visibility="private", queue=False)
        _wire_png_info(info_panel, panels, tabs, info)
        _wire_png_info(gallery_panel, panels, tabs, info)  # the same "send to", from the picture kept on disk
    return demo


def _wire_png_info(source, panels: dict, tabs: gr.Tabs, info: EngineInfo) -> None:
    """PNG Info's and the Gallery's "send to" fill a tab's prompt and settings from the parameters read (and its
    picture: PNG Info's upload, or the gallery's file on disk)."""
    for target_name, button in source.send.items():
        target = panels[target_name]

        takes_picture = getattr(target, "image", None) is not None  # text to image starts from none
        takes_hires = target.hires is not None  # text to image's hires fix, on or off as the picture was made
        faces = target.detailer  # restore faces and the detailer, as the picture was made
        plot = target.plot  # a grid's X/Y/Z axes; off for any other picture
        refining = target.refiner  # the refiner the picture was finished with, or none

        def send(picture, text, _target=target_name, _takes_picture=takes_picture, _takes_hires=takes_hires,
                 _faces=faces, _plot=plot, _refining=refining):
            if not text:
                raise gr.Error("Pick a picture with generation parameters first.", title="Nothing to send")
            if isinstance(picture, str):  # the gallery's picture, read from the outputs folder
                picture = _picture_file(picture)
            values, skipped = png_info.settings_from(text, info)
            face_values = detailer.values_from(text, _faces, info.face_restorers, skipped) if _faces else []
            if skipped:
                gr.Warning("Not used: " + "; ".join(skipped))
            image = [] if not _takes_picture else [
                gr.skip() if picture is None else
                {"background": picture, "layers": [], "composite": picture} if _target == "inpaint" else picture]
            second_pass = hires.values_from(text) if _takes_hires else []
            axes = xyz_plot.values_from(text) if _plot else []
            refined = refiner.values_from(text, info.models) if _refining else []
            return [*image, *values, *second_pass, *face_values, *axes, *refined, gr.Tabs(selected=_target)]

        outputs = ([target.image] if takes_picture else []) + [*target.settings(),
                                                               *(target.hires.inputs() if takes_hires else []),
                                                               *(faces.inputs() if faces else []),
                                                               *(plot.inputs() if plot else []),
                                                               *(refining.inputs() if refining else []), tabs]
        picture = source.image if isinstance(source, png_info.PngInfoPanel) else source.picture
        button.click(send, [picture, source.parameters], outputs, api_visibility="private", queue=False)


def _picture_file(path: str):
    from PIL import Image

    try:
        with Image.open(path) as picture:
            return picture.convert("RGB")
    except OSError:
        raise gr.Error("That picture is no longer in the outputs folder.", title="Picture gone") from None


def _wire_send_to(panels: dict, tabs: gr.Tabs) -> None:
    """"Send to" carries the selected picture and its settings to another tab, and opens that tab."""
    for source in panels.values():
        for target_name, button in source.send.items():
            target = panels[target_name]

            def send(gallery, selected, *settings, _target=target_name):
                picture = selected_picture(gallery, selected)
                if picture is None:
                    raise gr.Error("Generate a picture first, then send it.", title="Nothing to send")
                values = dict(zip(SHARED_NAMES, settings))
                seed = seed_of(picture)
                if seed is not None:  # the picture's own seed, so the settings reproduce it
                    values["seed"] = seed
                image = {"background": picture, "layers": [], "composite": picture} if _target == "inpaint" else picture
                return [image, *in_order(values), gr.Tabs(selected=_target)]

            button.click(send, [source.gallery, source.selected, *source.settings()],
                         [target.image, *target.settings(), tabs], api_visibility="private", queue=False)
