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


def test_stop_from_another_session_does_not_stop_mine_but_my_stop_does(manager):
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
    while "mine" not in runner._tokens:
        time.sleep(0.01)
    runner.stop(theirs)
    time.sleep(0.5)
    assert thread.is_alive() and not runner._tokens["mine"].cancelled
    runner.stop(mine)
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
