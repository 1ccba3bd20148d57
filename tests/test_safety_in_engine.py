"""The safety checker in the studio: --safety decides, every picture of every family passes it, a flagged one is
blurred with a notice and recorded, never handed out unblurred; an unflagged one is left exactly as it was."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.metadata import parse_parameters
from pipelines.request import GenerationRequest
from pipelines.tiny_safety import write_tiny_safety_checker

RUN = dict(prompt="a lighthouse", steps=1, width=64, height=64, seed=9)


@pytest.fixture(scope="module")
def checkers(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkers")
    return {flag: str(write_tiny_safety_checker(root / f"flags-{flag}", flag=flag)) for flag in (True, False)}


@pytest.mark.parametrize("argv, on", [([], False), (["--share"], True), (["--host", "0.0.0.0"], True),
                                      (["--safety", "on"], True), (["--safety", "off", "--share"], False)])
def test_safety_auto_is_on_when_the_studio_is_exposed(argv, on):
    from server import app_settings

    assert bool(app_settings.parse(argv).engine.safety_checker) is on


@pytest.mark.parametrize("model", ["tiny-sd15", "tiny-sdxl"])
def test_a_flagged_picture_is_blurred_said_and_recorded(make_manager, checkers, model):
    plain = make_manager(watermark=False, content_credentials=False).generate(GenerationRequest(model=model, **RUN))
    checked = make_manager(watermark=False, content_credentials=False, safety_checker=checkers[True]).generate(
        GenerationRequest(model=model, **RUN))
    before, after = (np.asarray(r.images[0], dtype=np.int16) for r in (plain, checked))
    detail = lambda a: np.abs(np.diff(a, axis=1)).mean()  # noqa: E731 - how much neighbouring pixels differ
    assert detail(after) < detail(before) / 3  # blurred, not blacked out
    assert after.mean() > 5
    assert any("safety checker" in w for w in checked.warnings)
    assert parse_parameters(checked.infotexts[0])["settings"]["Safety checker"] == "blurred"
    assert checked.records[0]["parameters"]["safety_checker_blurred"] is True


def test_an_unflagged_picture_is_left_exactly_as_it_was(make_manager, checkers):
    plain = make_manager(watermark=False, content_credentials=False).generate(GenerationRequest(**RUN))
    manager = make_manager(watermark=False, content_credentials=False, safety_checker=checkers[False])
    checked = manager.generate(GenerationRequest(**RUN))
    assert np.array_equal(np.asarray(plain.images[0]), np.asarray(checked.images[0]))
    assert "Safety checker" not in checked.infotexts[0] and not checked.warnings
    # one residency component, loaded once
    assert any(row["model"] == "safety-checker" for row in manager.status()["components"])
