"""The UI's runner: Stop ends the run it names within a step; an unwritable outputs folder still returns pictures."""

from __future__ import annotations

import threading

import gradio as gr
import pytest

from pipelines.metadata import read_parameters
from pipelines.request import GenerationRequest
from ui.runner import Runner


def no_progress(*args, **kwargs):
    pass


STOPPED = "Stopped."


def last(generator):
    value = None
    for value in generator:
        pass
    return value


class CountingSteps:
    """The engine, counting the denoising steps it runs."""

    def __init__(self, manager):
        self.manager, self.steps = manager, 0

    def generate(self, request, on_step=None, **kwargs):
        def count(info):
            self.steps = info.step
            on_step(info)
        return self.manager.generate(request, on_step=count, **kwargs)

    def __getattr__(self, name):
        return getattr(self.manager, name)


def test_closing_a_run_as_gradio_does_on_stop_ends_the_engine_run_within_a_step(manager):
    """Stop, a closed page and an API client's cancel all end in Gradio closing the run's generator."""
    engine = CountingSteps(manager)
    runner = Runner(engine, outputs_dir=None)
    run = runner.run(GenerationRequest(prompt="a", steps=40, seed=1), [], no_progress)
    while engine.steps == 0:
        next(run)
    [worker] = [t for t in threading.enumerate() if t.name == "generate-txt2img"]
    run.close()
    steps_at_stop = engine.steps
    worker.join(timeout=60)
    assert not worker.is_alive() and engine.steps <= steps_at_stop + 1 < 40
    gallery, info, status, history = last(runner.run(GenerationRequest(prompt="next", steps=2, seed=2), [],
                                                     no_progress))
    assert info.startswith("next") and "Seed: 2" in info  # the device was released for the next run


def test_stop_by_run_id_ends_that_run_within_a_step_and_never_the_next(manager):
    """The page's Stop sends the id the page gave the run at its click: a late Stop cannot end the next run."""
    engine = CountingSteps(manager)
    runner = Runner(engine, outputs_dir=None)
    run = runner.run(GenerationRequest(prompt="a", steps=40, seed=1), [], no_progress, run_id="first")
    while engine.steps == 0:
        next(run)
    runner.stop("first")
    steps_at_stop = engine.steps
    assert last(run)[2] == STOPPED  # the status says so; no picture comes
    assert engine.steps <= steps_at_stop + 1 < 40

    runner.stop("first")  # the same Stop again, reaching the server only now
    gallery, info, status, history = last(runner.run(GenerationRequest(prompt="next", steps=2, seed=2), [],
                                                     no_progress, run_id="second"))
    assert info.startswith("next") and "Seed: 2" in info


def test_one_stop_names_the_tabs_latest_runs_and_ends_the_one_that_runs(manager):
    """The page sends its tab's few latest ids: a Generate click that Gradio ignored (its run was still pending)
    made an id of its own, and the run that does go on must still stop."""
    engine = CountingSteps(manager)
    runner = Runner(engine, outputs_dir=None)
    run = runner.run(GenerationRequest(prompt="a", steps=40, seed=1), [], no_progress, run_id="running")
    while engine.steps == 0:
        next(run)
    runner.stop("older running ignored-click " + "x" * 100)  # a name too long to be the page's is passed over
    assert last(run)[2] == STOPPED
    assert engine.steps < 40


def test_a_stop_that_comes_while_its_run_still_waits_ends_it_at_its_start(manager):
    engine = CountingSteps(manager)
    runner = Runner(engine, outputs_dir=None)
    runner.stop("queued")
    assert last(runner.run(GenerationRequest(prompt="a", steps=40, seed=1), [], no_progress, run_id="queued"))[2] == STOPPED
    assert engine.steps == 0
    gallery, info, status, history = last(runner.run(GenerationRequest(prompt="b", steps=2, seed=3), [],
                                                     no_progress, run_id="another"))
    assert "Seed: 3" in info


def test_an_unwritable_outputs_folder_still_returns_the_pictures_and_says_so_once(manager, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the outputs folder should be")
    runner = Runner(manager, outputs_dir=str(blocker))
    with pytest.warns(UserWarning) as warned:
        for seed in (1, 2):
            gallery, info, status, history = last(runner.run(GenerationRequest(prompt="a", steps=2, seed=seed), [],
                                                             no_progress))
            path = gallery[0][0]
            assert read_parameters(path) == info and history[0] == (path, info)
    assert [str(w.message) for w in warned if "outputs folder" in str(w.message)] == [
        "Could not save to the outputs folder (Not a directory); pictures are still shown here: download them from "
        "the gallery."]


def test_each_tabs_stop_button_cancels_that_tabs_generate_and_nothing_else(tiny_dir):
    """As wired in the page, each tab's Stop cancels its own Generate event (Gradio's cancel, which also takes a
    run out of the queue) and sends the run id its own Generate made: never another tab's."""
    import app
    from server import app_settings as settings

    demo, _ = app.build_app(settings.parse(["--models", str(tiny_dir / "models.yaml"), "--outputs", "off"]))
    by_elem_id = {getattr(block, "elem_id", None): block_id for block_id, block in demo.blocks.items()}

    def triggered_by(elem_id: str):
        return [(index, fn) for index, fn in demo.fns.items() if any(t[0] == by_elem_id[elem_id] for t in fn.targets)]

    for tab in ("txt2img", "img2img", "inpaint", "controlnet"):
        [(generate, generate_fn)] = [(i, fn) for i, fn in triggered_by(f"{tab}-generate") if fn.api_name == tab]
        cancels = [fn.cancels for _, fn in triggered_by(f"{tab}-stop") if fn.is_cancel_function]
        assert cancels == [[generate]], tab
        [stop_fn] = [fn for _, fn in triggered_by(f"{tab}-stop") if not fn.is_cancel_function]
        assert f"window.easelRuns?.['{tab}-generate']?.at(-1)" in generate_fn.js  # the name its click made
        assert f"window.easelRuns?.['{tab}-generate']" in stop_fn.js  # and this tab's Stop sends those names
        assert stop_fn.inputs[0] == generate_fn.inputs[-1]  # through the run id the Generate receives


def test_the_outputs_folder_keeps_jpeg_copies_when_asked_and_the_page_still_gets_png(manager, tmp_path):
    from PIL import Image

    runner = Runner(manager, outputs_dir=str(tmp_path), save_format="jpg")
    gallery, info, status, history = last(runner.run(GenerationRequest(prompt="a", steps=2, seed=5), [], no_progress))
    [saved] = tmp_path.rglob("*-5.jpg")
    assert Image.open(saved).format == "JPEG" and read_parameters(saved) == info
    assert Image.open(gallery[0][0]).format == "PNG" and not list(tmp_path.rglob("*.png"))


def test_a_damaged_gallery_database_still_keeps_every_picture_on_disk(manager, tmp_path):
    (tmp_path / "gallery.sqlite").write_bytes(b"this is not a database" * 100)
    runner = Runner(manager, outputs_dir=str(tmp_path))
    gallery, info, status, history = last(runner.run(GenerationRequest(prompt="a", steps=1, seed=8), [], no_progress))
    assert "Seed: 8" in info
    assert [path.name.endswith("-8.png") for path in tmp_path.rglob("*.png")] == [True]
    assert "gallery.sqlite" in runner.store.error  # what the Gallery tab says


def test_whose_picture_a_run_makes():
    from types import SimpleNamespace

    from ui.gallery import owner_of

    assert owner_of(SimpleNamespace(username="ada", cookies={}, session_hash="s1")) == "user:ada"
    assert owner_of(SimpleNamespace(username=None, cookies={"easel_browser": "0b8e5c1e-4f1a-4c55-9b4e-123456789abc"},
                                    session_hash="s1")) == "browser:0b8e5c1e-4f1a-4c55-9b4e-123456789abc"
    assert owner_of(SimpleNamespace(username=None, cookies={"easel_browser": "<script>"}, session_hash="s1")) == \
        "session:s1"  # a cookie that is not one the page made


def test_a_batch_count_runs_the_batches_in_turn_with_the_seeds_continuing(manager, tmp_path):
    from pipelines.metadata import parse_parameters

    runner = Runner(manager, None)
    request = GenerationRequest(prompt="a field", steps=2, width=64, height=64, seed=30, batch_size=2, subseed=50,
                                subseed_strength=0.5)
    updates = list(runner.run(request, [], no_progress, count=3))
    pictures = [update[0] for update in updates if isinstance(update[0], list)]
    assert [len(shown) for shown in pictures] == [2, 4, 6]  # the gallery grows as each batch ends
    assert [caption for _, caption in pictures[-1]] == [f"seed {s}" for s in range(30, 36)]
    history = updates[-1][3]
    assert len(history) == 6 and "Batch count" not in history[0][1]
    newest = parse_parameters(history[0][1])["settings"]  # the last batch's first picture is the newest
    assert (newest["Seed"], newest["Variation seed"]) == ("34", "54")
    assert "batch 3 of 3" in updates[-1][2]
    with pytest.raises(Exception, match="batch_count"):
        list(runner.run(request, [], no_progress, count=40))
