"""The UI's runner: Stop reaches only its own session's run; an unwritable outputs folder still returns pictures."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import gradio as gr
import pytest

from pipelines.metadata import read_parameters
from pipelines.request import GenerationRequest
from ui.runner import Runner


def no_progress(*args, **kwargs):
    pass


def last(generator):
    value = None
    for value in generator:
        pass
    return value


def test_stop_from_another_session_or_tab_does_not_stop_mine_but_my_stop_does(manager):
    runner = Runner(manager, outputs_dir=None)
    mine, theirs = SimpleNamespace(session_hash="mine"), SimpleNamespace(session_hash="theirs")
    outcome = {}

    def run():
        try:
            outcome["value"] = last(runner.run(GenerationRequest(prompt="a", steps=40, seed=1), [], mine, no_progress))
        except gr.Error as error:
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    while ("mine", "txt2img") not in runner._tokens:
        time.sleep(0.01)
    runner.stopper("txt2img")(theirs)
    runner.stopper("img2img")(mine)  # another tab's Stop, same session
    time.sleep(0.5)
    assert thread.is_alive() and not runner._tokens["mine", "txt2img"].cancelled
    runner.stopper("txt2img")(mine)
    thread.join(timeout=60)
    assert str(outcome["error"].message) == "Stopped."


def test_an_unwritable_outputs_folder_still_returns_the_pictures_and_says_so_once(manager, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the outputs folder should be")
    runner = Runner(manager, outputs_dir=str(blocker))
    with pytest.warns(UserWarning) as warned:
        for seed in (1, 2):
            gallery, info, status, history = last(runner.run(GenerationRequest(prompt="a", steps=2, seed=seed), [],
                                                             None, no_progress))
            path = gallery[0][0]
            assert read_parameters(path) == info and history[0] == (path, info)
    assert [str(w.message) for w in warned if "outputs folder" in str(w.message)] == [
        "Could not save to the outputs folder (Not a directory); pictures are still shown here: download them from "
        "the gallery."]


def test_the_pages_stop_button_finds_the_run_its_generate_button_started(tiny_dir):
    """Gradio gives a handler the browser session only through a parameter annotated gr.Request: as wired in
    the page, each tab's Generate and Stop handlers must both get it, or Stop cannot find the run."""
    from gradio.helpers import special_args

    import app
    from ui import settings

    demo, manager = app.build_app(settings.parse(["--models", str(tiny_dir / "models.yaml"), "--outputs", "off"]))
    manager.warm_up()
    by_elem_id = {getattr(block, "elem_id", None): block_id for block_id, block in demo.blocks.items()}

    def handler_of(elem_id: str):
        [fn] = [f for f in demo.fns.values()
                if f.fn is not None and f.js is None and any(t[0] == by_elem_id[elem_id] for t in f.targets)]
        return fn

    generate = handler_of("txt2img-generate")
    stop = handler_of("txt2img-stop")
    session = gr.Request(session_hash="browser-tab-1")
    inputs, *_ = special_args(generate.fn, ["a", "", None, None, 150, 7.0, 256, 256, 3, 1, []], session)
    denoising = threading.Event()
    outcome = {}

    def progress(*args, unit=None, **kwargs):  # what the page's progress bar is sent
        if unit == "steps":
            denoising.set()

    def run():
        try:
            outcome["value"] = last(generate.fn(*inputs[:-1], progress=progress))
        except gr.Error as error:
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    assert denoising.wait(timeout=120)
    stop_inputs, *_ = special_args(stop.fn, [], session)
    stop.fn(*stop_inputs)
    thread.join(timeout=60)
    assert not thread.is_alive() and str(outcome["error"].message) == "Stopped."


def test_the_outputs_folder_keeps_jpeg_copies_when_asked_and_the_page_still_gets_png(manager, tmp_path):
    from PIL import Image

    runner = Runner(manager, outputs_dir=str(tmp_path), save_format="jpg")
    gallery, info, status, history = last(runner.run(GenerationRequest(prompt="a", steps=2, seed=5), [], None,
                                                     no_progress))
    [saved] = tmp_path.rglob("*-5.jpg")
    assert Image.open(saved).format == "JPEG" and read_parameters(saved) == info
    assert Image.open(gallery[0][0]).format == "PNG" and not list(tmp_path.rglob("*.png"))
