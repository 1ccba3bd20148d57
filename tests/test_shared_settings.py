"""The shared generation settings are declared once (pipelines/shared_settings.py): every tab takes them in
that order, by those names, and PNG Info, "Send to" and the panels agree with it."""

from __future__ import annotations

import inspect

import pytest

from pipelines.shared_settings import NAMES, SHARED_SETTINGS, from_infotext


@pytest.fixture(scope="module")
def page(tiny_dir):
    import app
    from server import app_settings as settings

    demo, _ = app.build_app(settings.parse(["--models", str(tiny_dir / "models.yaml"), "--outputs", "off"]))
    return demo


@pytest.mark.parametrize("tab", ["txt2img", "img2img", "inpaint", "outpaint", "controlnet"])
def test_every_tab_takes_the_shared_settings_by_their_declared_names_in_order(page, tab):
    [block] = [fn for fn in page.fns.values() if fn.api_name == tab]
    parameters = [name for name in inspect.signature(block.fn).parameters if name not in ("progress", "request")]
    own = len(parameters) - len(NAMES) - 2
    assert parameters[own:] == [*NAMES, "history", "run_id"]
    labels = [getattr(component, "label", None) for component in block.inputs[own:own + len(NAMES)]]
    assert labels == [setting.label for setting in SHARED_SETTINGS]


def test_an_a1111_infotext_gives_the_settings_by_name():
    from pipelines.metadata import parse_parameters

    text = ("a lighthouse\nNegative prompt: fog\nSteps: 12, Sampler: Euler a, CFG scale: 5.5, Seed: 42, "
            "Size: 512x768, Model: tiny-sd15")
    assert from_infotext(parse_parameters(text)) == {
        "prompt": "a lighthouse", "negative_prompt": "fog", "model": "tiny-sd15", "sampler": "Euler a", "steps": 12,
        "guidance_scale": 5.5, "width": 512, "height": 768, "seed": 42}
