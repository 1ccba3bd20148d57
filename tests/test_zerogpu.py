"""On ZeroGPU hardware: every path that computes on the GPU runs inside a @spaces.GPU call sized by its request,
the default model is on the device before the server starts, and what cannot run there says why.

A stand-in `spaces` package (tests/zerogpu_stub) records what is marked and what goes through a mark.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from tests.live_app import live_app

STUB = str(Path(__file__).parent / "zerogpu_stub")
GPU_HANDLERS = ["txt2img", "img2img", "inpaint", "outpaint", "controlnet", "preview_map", "preview_map", "finish"]


@pytest.fixture(scope="module")
def zerogpu_app(tiny_dir, tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setenv("SPACES_ZERO_GPU", "true")
    patch.syspath_prepend(STUB)
    sys.modules.pop("spaces", None)
    import spaces

    import gradio as gr

    from pipelines.manager import PipelineManager

    spaces.reset()
    order = []  # what happened first: the model placed on the device, or the server started
    preload, launch = PipelineManager.preload, gr.Blocks.launch

    def recording_preload(self, name=None, on_device=False):
        order.append(f"preload(on_device={on_device})")
        return preload(self, name, on_device)

    def recording_launch(self, *args, **kwargs):
        order.append("launch")
        return launch(self, *args, **kwargs)

    patch.setattr(PipelineManager, "preload", recording_preload)
    patch.setattr(gr.Blocks, "launch", recording_launch)
    try:
        with live_app(tiny_dir, None) as studio:
            studio.order, studio.spaces = list(order), spaces
            yield studio
    finally:
        patch.undo()
        sys.modules.pop("spaces", None)


def test_every_gpu_path_of_the_page_is_marked_for_zerogpu(zerogpu_app):
    assert sorted(zerogpu_app.spaces.marked) == sorted(GPU_HANDLERS)


def test_the_default_model_is_on_the_device_before_the_server_starts(zerogpu_app):
    assert zerogpu_app.order == ["preload(on_device=True)", "launch"]
    status = zerogpu_app.manager.status()
    default = zerogpu_app.manager.library.default
    mine = [c for c in status["components"] if c["model"] == default]
    assert mine and all(c["where"] == status["device"] for c in mine)


def test_a_generation_goes_through_the_mark_with_a_duration_from_its_request(zerogpu_app):
    from ui.zerogpu import CAP_SECONDS, FLOOR_SECONDS

    client = Client(zerogpu_app.url, verbose=False)
    gallery, _, _ = client.predict(prompt="a lighthouse", steps=2, seed=5, api_name="/txt2img")
    assert len(gallery) == 1
    name, seconds = zerogpu_app.spaces.calls[-1]
    assert name == "txt2img" and FLOOR_SECONDS <= seconds <= CAP_SECONDS


def test_stop_ends_a_run_inside_the_mark(zerogpu_app):
    client = Client(zerogpu_app.url, verbose=False)
    job = client.submit(prompt="a long one", steps=150, seed=1, api_name="/txt2img")
    deadline = time.monotonic() + 60
    while not zerogpu_app.manager.busy and time.monotonic() < deadline:
        time.sleep(0.05)
    assert zerogpu_app.manager.busy, "the run never started"
    job.cancel()
    while zerogpu_app.manager.busy and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not zerogpu_app.manager.busy, "the run went on after Stop"
    gallery, _, _ = client.predict(prompt="after the stop", steps=1, seed=2, api_name="/txt2img")
    assert len(gallery) == 1


def test_the_a1111_api_says_why_it_cannot_generate_on_zerogpu(zerogpu_app):
    answer = httpx.post(zerogpu_app.url + "sdapi/v1/txt2img", json={"prompt": "x", "steps": 1}, timeout=30)
    assert answer.status_code == 503
    assert "ZeroGPU" in answer.json()["detail"] and "gradio_client" in answer.json()["detail"]
    models = httpx.get(zerogpu_app.url + "sdapi/v1/sd-models", timeout=30)
    assert models.status_code == 200 and models.json()  # what only reads the library still answers


def test_preload_and_unload_say_why_they_are_off_on_zerogpu(zerogpu_app):
    config = httpx.get(zerogpu_app.url + "config", timeout=30).json()
    buttons = {c["props"].get("value"): c["props"] for c in config["components"] if c["type"] == "button"}
    for label in ("Preload", "Unload", "Unload everything"):
        assert buttons[label]["interactive"] is False
    notes = [c["props"].get("value", "") for c in config["components"] if c["type"] == "markdown"]
    assert any("not available on ZeroGPU" in note for note in notes)


# --- the duration asked for -------------------------------------------------------------------------


def test_the_duration_grows_with_steps_pixels_batch_and_units_within_a_floor_and_a_cap():
    from ui.zerogpu import CAP_SECONDS, FLOOR_SECONDS, generation_seconds

    base = dict(steps=30, width=1024, height=1024, batch_size=1, model="sdxl")
    one = generation_seconds(base, "sdxl")
    assert FLOOR_SECONDS < one < CAP_SECONDS
    assert generation_seconds({**base, "batch_size": 2}, "sdxl") > one
    assert generation_seconds({**base, "steps": 60}, "sdxl") > one
    assert generation_seconds({**base, "width": 512, "height": 512}, "sdxl") < one
    assert generation_seconds({**base, "control_type": "canny"}, "sdxl") > one
    two_units = {**base, "control_type": "canny", "enable_unit_2": True, "control_type_2": "depth"}
    assert generation_seconds(two_units, "sdxl") > generation_seconds({**base, "control_type": "canny"}, "sdxl")
    assert generation_seconds({**base, "model": "other"}, "sdxl") > one  # loads inside the call
    assert FLOOR_SECONDS <= generation_seconds({**base, "steps": 1, "width": 64, "height": 64}, "sdxl") \
        <= FLOOR_SECONDS + 1
    assert generation_seconds({**base, "steps": 150, "batch_size": 8, "width": 2048, "height": 2048}, "sdxl") \
        == CAP_SECONDS
    # values are raw from the page: a bad one never breaks the estimate (the engine refuses it, by name, later)
    assert FLOOR_SECONDS <= generation_seconds({"steps": "lots", "width": None, "batch_size": float("nan")}) \
        <= CAP_SECONDS
