"""The safety checker for public demos: when it runs, how it is loaded, what it decides, and how a flagged picture
is hidden. The models are tiny_safety.py's: real `StableDiffusionSafetyChecker`s whose thresholds fix the outcome."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines.errors import ModelLoadError
from pipelines.safety_checker import (NOTICE, RESIDENCY_OWNER, RESIDENCY_ROLE, SafetyChecker, blur_flagged,
                                      checker_enabled, load_safety_checker)
from pipelines.tiny_safety import write_tiny_safety_checker

HUB_ID = "easel-tests/tiny-safety-checker"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def detail(image: Image.Image) -> float:
    """Mean absolute difference between neighbouring grey levels: how much fine detail a picture holds. (Not the
    Laplacian: on a smooth blurred gradient, rounding to 8 bits alone leaves it a floor as high as an upscaled
    picture's.)"""
    a = np.asarray(image.convert("L"), dtype=np.float64)
    return float(np.abs(np.diff(a, axis=0)).mean() + np.abs(np.diff(a, axis=1)).mean())


@pytest.fixture(scope="module")
def checkers(tmp_path_factory):
    """{flag: folder} of tiny checkers in a pipeline repo's layout."""
    root = tmp_path_factory.mktemp("tiny-safety")
    return {flag: write_tiny_safety_checker(root / f"flag-{flag}", flag) for flag in (True, False)}


@pytest.fixture(scope="module")
def flagging(checkers) -> SafetyChecker:
    return load_safety_checker(str(checkers[True]))


@pytest.fixture(scope="module")
def passing(checkers) -> SafetyChecker:
    return load_safety_checker(str(checkers[False]))


@pytest.fixture
def pictures(photo):
    """Pictures as the families make them, and as the API may hand them over: sizes, aspect ratios and modes."""
    noise = np.random.default_rng(0).integers(0, 256, (96, 160, 3), dtype=np.uint8)
    return [photo, Image.fromarray(noise), photo.convert("RGBA"), photo.convert("L"), photo.resize((2048, 2048))]


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache of this test's own: what is cached is only what the test puts there."""
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def cache_snapshot(cache, repo_id: str):
    """The folder of a cached snapshot of `repo_id` at `COMMIT`, as huggingface_hub lays it out."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return repo / "snapshots" / COMMIT


# --- when it runs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode, exposed, runs", [("on", False, True), ("on", True, True),
                                                 ("off", False, False), ("off", True, False),
                                                 ("auto", False, False), ("auto", True, True)])
def test_the_mode_and_the_exposure_decide_whether_the_checker_runs(mode, exposed, runs):
    assert checker_enabled(mode, exposed) is runs


@pytest.mark.parametrize("mode", ["maybe", "ON", ""])
def test_an_unknown_mode_names_the_flag_and_its_choices(mode):
    with pytest.raises(ValueError, match=rf"^--safety: unknown mode {mode!r}; use one of off, on, auto$"):
        checker_enabled(mode, exposed=True)


# --- loading --------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["pipeline", "repo"])
def test_the_tiny_checker_loads_as_a_real_one_from_a_folder_in_either_layout(tmp_path, layout, photo):
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPImageProcessor

    checker = load_safety_checker(str(write_tiny_safety_checker(tmp_path / layout, True, layout)))
    assert isinstance(checker.model, StableDiffusionSafetyChecker)
    assert isinstance(checker.feature_extractor, CLIPImageProcessor)
    assert checker.check([photo]) == [True]


@pytest.mark.parametrize("layout", ["repo", "pipeline"])  # CompVis' own repo; a Stable Diffusion pipeline repo
def test_a_checker_in_the_hub_cache_loads_offline_by_its_repo_id(hub_cache, layout, photo):
    write_tiny_safety_checker(cache_snapshot(hub_cache, HUB_ID), False, layout)
    checker = load_safety_checker(HUB_ID, local_files_only=True)
    assert checker.source == HUB_ID
    assert checker.check([photo]) == [False]


def test_a_checker_missing_offline_names_the_repo_and_the_way_out(hub_cache):
    with pytest.raises(ModelLoadError) as raised:
        load_safety_checker("easel-tests/no-such-safety-checker", local_files_only=True)
    message = str(raised.value)
    assert "easel-tests/no-such-safety-checker" in message and "offline" in message
    assert "--safety off turns the checker off" in message


def test_a_missing_folder_says_how_to_turn_the_checker_off(tmp_path):
    with pytest.raises(ModelLoadError, match="no such folder.*--safety off"):
        load_safety_checker(str(tmp_path / "nowhere" / "checker"))


def test_pickled_weights_are_refused_unless_allowed(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"never unpickled")
    (tmp_path / "preprocessor_config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="pickle.*--allow-pickle"):
        load_safety_checker(str(tmp_path))


def test_a_folder_without_a_feature_extractor_is_refused(tmp_path):
    folder = write_tiny_safety_checker(tmp_path / "checker", True)
    (folder / "feature_extractor" / "preprocessor_config.json").unlink()
    with pytest.raises(ModelLoadError, match="preprocessor_config.json"):
        load_safety_checker(str(folder))


# --- deciding and blurring ------------------------------------------------------------------------


def test_a_flagging_checker_flags_and_blurs_every_picture(flagging, pictures):
    shown, flags = flagging.screen(pictures)
    assert flags == [True] * len(pictures)
    for original, picture in zip(pictures, shown):
        assert picture.size == original.size and picture.mode == original.mode
        assert picture.tobytes() != original.tobytes()
        # blurred, not blacked out: the colours stay, the detail goes
        assert np.asarray(picture).mean() > 0.5 * np.asarray(original).mean()
        assert detail(picture) < 0.1 * detail(original)


def test_a_passing_checker_leaves_every_picture_as_it_was(passing, pictures):
    before = [picture.tobytes() for picture in pictures]
    shown, flags = passing.screen(pictures)
    assert flags == [False] * len(pictures)
    assert [picture.tobytes() for picture in shown] == before


def test_the_decision_is_computed_by_the_model(flagging, photo):
    """Between the two thresholds the fixed ones use, the outcome follows the pictures' embeddings."""
    from diffusers.pipelines.stable_diffusion.safety_checker import cosine_distance

    model = flagging.model
    noise = Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    pixels = flagging.feature_extractor([photo, noise], return_tensors="pt").pixel_values
    with torch.no_grad():
        embeds = model.visual_projection(model.vision_model(pixels)[1])
        closest = cosine_distance(embeds, model.concept_embeds).max(dim=1).values.tolist()
    assert abs(closest[0] - closest[1]) > 0.01  # far enough apart for the model's rounding to 3 decimals
    saved = model.concept_embeds_weights.clone()
    try:
        with torch.no_grad():
            model.concept_embeds_weights.fill_(sum(closest) / 2)
        assert flagging.check([photo, noise]) == [closest[0] > closest[1], closest[1] > closest[0]]
    finally:
        with torch.no_grad():
            model.concept_embeds_weights.copy_(saved)


def test_the_check_runs_in_the_models_own_number_format(checkers, photo):
    checker = load_safety_checker(str(checkers[True]), dtype=torch.bfloat16)
    assert {p.dtype for p in checker.model.parameters()} == {torch.bfloat16}
    assert checker.check([photo, photo]) == [True, True]


def test_nothing_to_check_is_nothing_flagged(flagging):
    assert flagging.check([]) == [] and flagging.screen([]) == ([], [])


def test_the_blur_scales_with_the_picture_and_keeps_its_metadata(photo):
    big = photo.resize((2048, 1536))
    big.info["parameters"] = "a prompt"
    [hidden] = blur_flagged([big], [True])
    assert detail(hidden) < 0.1 * detail(big)
    # and at a glance (a thumbnail), where a radius fixed for small pictures would leave a big one legible
    thumbnail = (32, 24)
    assert detail(hidden.resize(thumbnail, Image.BOX)) < 0.15 * detail(big.resize(thumbnail, Image.BOX))
    assert hidden.info["parameters"] == "a prompt"
    palette = photo.convert("P")
    assert blur_flagged([palette], [True])[0].mode == "RGB"  # a mode the blur cannot take is blurred as RGB


def test_pictures_and_decisions_must_pair_up(photo):
    with pytest.raises(ValueError, match="2 pictures but 1 safety decisions"):
        blur_flagged([photo, photo], [False])


def test_the_notice_says_what_happened():
    assert "blurred by the safety checker" in NOTICE and len(NOTICE) < 200


# --- residency ------------------------------------------------------------------------------------


def test_its_modules_are_the_whole_model_and_one_residency_component(flagging, photo):
    from pipelines.residency import Residency, module_bytes

    modules = flagging.modules()
    assert all(isinstance(module, torch.nn.Module) for module in modules)
    count = sum(p.numel() for module in modules for p in module.parameters())
    assert count == sum(p.numel() for p in flagging.model.parameters()) > 0
    residency = Residency(torch.device("cpu"), pin=False)
    key = residency.add(RESIDENCY_OWNER, RESIDENCY_ROLE, *modules)
    assert residency.keys_of(*flagging.modules()) == [key]
    assert residency.components[key].nbytes == module_bytes(flagging.model)
    assert residency.place([key], force_mode="none") == "none"
    assert flagging.check([photo]) == [True]
