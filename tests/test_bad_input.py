"""Every bad input in tests/bad_inputs.py, sent through the UI's handlers and through the API, gets a clear
message that names the field, and the studio keeps serving afterwards."""

from __future__ import annotations

import json
import math
import urllib.request

import gradio as gr
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.bad_inputs import CASES, materialise, make_files

IDS = [case.id for case in CASES]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_files(tmp_path_factory.mktemp("bad-inputs"))


@pytest.fixture(scope="module")
def handlers(tiny_dir):
    """The generation handlers of a studio built in this process, by API name, as Gradio calls them."""
    import app
    from pipelines.engine_settings import EngineSettings
    from server.app_settings import AppSettings

    settings = AppSettings(models=str(tiny_dir / "models.yaml"), outputs=None, engine=EngineSettings(device="cpu"))
    demo, _manager = app.build_app(settings)
    return {fn.api_name: fn.fn for fn in demo.fns.values() if fn.api_name in ("txt2img", "img2img", "inpaint",
                                                                               "outpaint", "controlnet")}


def call_handler(handler, inputs: dict):
    """Run a generation handler to its end, the way Gradio drives it; return the last update."""
    last = None
    for last in handler(**inputs, history=[], progress=lambda *a, **k: None):
        pass
    return last


def assert_names_the_field(message: str, case):
    assert message.startswith(f"{case.field}: ") or f"\n{case.field}: " in message, message
    assert case.words in message, message
    assert "Traceback" not in message


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_ui_handler_answers_a_bad_input_by_naming_the_field(handlers, files, case):
    as_uploaded = {name: materialise(value, lambda file: {"path": str(files / file), "orig_name": file,
                                                          "meta": {"_type": "gradio.FileData"}})
                   for name, value in case.inputs.items()}
    with pytest.raises(gr.Error) as raised:
        call_handler(handlers[case.endpoint], {"prompt": "a test", "steps": 2, **as_uploaded})
    assert_names_the_field(str(raised.value.message), case)


def test_the_ui_handlers_still_generate_after_all_the_bad_inputs(handlers):
    gallery, info, status, history = call_handler(handlers["txt2img"], {"prompt": "still here", "steps": 2})
    assert info.startswith("still here") and len(history) == 1


def call_raw(url: str, endpoint: str, parameters: list[dict], inputs: dict) -> str:
    """The API call a hand-written HTTP client makes (JSON may carry NaN); returns the error message."""
    data = [inputs.get(p["parameter_name"], p.get("parameter_default")) for p in parameters]
    request = urllib.request.Request(f"{url}gradio_api/call/{endpoint}", data=json.dumps({"data": data}).encode(),
                                     headers={"Content-Type": "application/json"})
    event_id = json.load(urllib.request.urlopen(request, timeout=30))["event_id"]
    stream = urllib.request.urlopen(f"{url}gradio_api/call/{endpoint}/{event_id}", timeout=120).read().decode()
    event, payload = [line for line in stream.splitlines() if line.startswith(("event:", "data:"))][-2:]
    assert event == "event: error", stream
    return json.loads(payload[len("data:"):])["error"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_api_answers_a_bad_input_by_naming_the_field(client, app_server, files, case):
    inputs = {"prompt": "a test", "steps": 2}
    inputs.update({name: materialise(value, lambda file: handle_file(files / file)) for name, value in
                   case.inputs.items()})
    if any(isinstance(v, float) and not math.isfinite(v) for v in inputs.values()):
        # JSON clients cannot send NaN; a hand-written one can, so send it as one would
        parameters = client.view_api(return_format="dict", print_info=False)["named_endpoints"][f"/{case.endpoint}"]
        message = call_raw(app_server.url, case.endpoint, parameters["parameters"], inputs)
    else:
        with pytest.raises(AppError) as raised:
            client.predict(**inputs, api_name=f"/{case.endpoint}")
        message = raised.value.message
    assert_names_the_field(message, case)


def test_the_api_still_generates_after_all_the_bad_inputs(client):
    gallery, info, status = client.predict(prompt="still serving", steps=2, api_name="/txt2img")
    assert info.startswith("still serving") and gallery[0]["image"].endswith(".png")


def test_control_characters_and_unicode_in_a_prompt_are_cleaned_and_said(handlers):
    with pytest.warns(UserWarning, match="prompt: removed 2 control characters"):
        _, info, _, _ = call_handler(handlers["txt2img"], {"prompt": "a\x00 cat\x07 ✨ 日本の猫", "steps": 2})
    assert info.startswith("a cat ✨ 日本の猫")


def test_a_mask_of_another_size_is_fitted_to_the_picture_and_said(handlers, files):
    from PIL import Image

    Image.new("L", (32, 48), 255).save(files / "small-mask.png")
    editor = {"background": {"path": str(files / "photo.png")}, "layers": [], "composite": None}
    with pytest.warns(UserWarning, match="mask: resized from 32x48 to the image's 64x64"):
        gallery, info, _, _ = call_handler(handlers["inpaint"], {"image": editor, "mask": {
            "path": str(files / "small-mask.png")}, "prompt": "sky", "steps": 2})
    assert "Size: 64x64" in info
