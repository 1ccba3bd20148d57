"""TAESD, the tiny autoencoder: live previews painted by it when it is on this machine, and final pictures decoded
by it when asked (`--decode fast`, a request's `decode`, A1111's sd_vae_decode_method), said in the parameters."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from pipelines.errors import InvalidRequest, ModelLoadError
from pipelines.request import GenerationRequest

REQUEST = dict(prompt="a lighthouse", steps=3, seed=5, width=64, height=64)


def _library_with(library, **decoders):
    changed = copy.copy(library)
    changed.fast_decoders = {family: (source, None) for family, source in decoders.items()}
    return changed


def _manager(library, **settings):
    from pipelines.engine_settings import EngineSettings
    from pipelines.manager import PipelineManager

    return PipelineManager(library, EngineSettings(device="cpu", **settings))


def _pixels(result) -> np.ndarray:
    return np.asarray(result.images[0], dtype=np.int16)


def test_live_previews_are_taesd_pictures_at_the_pictures_size_where_it_is_on_this_machine(manager, library):
    previews = []
    manager.generate(GenerationRequest(**REQUEST), on_preview=previews.append)
    assert previews and {p.size for p in previews} == {(64, 64)}  # decoded as the picture will be
    without = []
    _manager(_library_with(library)).generate(GenerationRequest(**REQUEST), on_preview=without.append)
    assert {p.size for p in without} == {(32, 32)}  # the linear approximation, 4x the latent's size


def test_a_preview_never_waits_for_a_download_but_a_fast_decode_says_what_is_missing(library):
    offline = _manager(_library_with(library, sd1="madebyollin/taesd"))  # not in this machine's cache
    previews = []
    result = offline.generate(GenerationRequest(**REQUEST), on_preview=previews.append)
    assert {p.size for p in previews} == {(32, 32)} and result.images[0].size == (64, 64)
    with pytest.raises(ModelLoadError, match="TAESD for SD 1.x.*madebyollin/taesd is not in the local cache"):
        offline.generate(GenerationRequest(**REQUEST, decode="fast"))


def test_a_fast_decode_is_taesds_picture_of_the_same_run_and_the_parameters_say_so(manager):
    full = manager.generate(GenerationRequest(**REQUEST))
    fast = manager.generate(GenerationRequest(**REQUEST, decode="fast"))
    assert fast.images[0].size == full.images[0].size
    assert np.abs(_pixels(fast) - _pixels(full)).mean() > 5  # another decoder (random weights: another picture)
    assert "VAE Decoder: TAESD" in fast.infotexts[0] and "TAESD" not in full.infotexts[0]
    assert fast.parameters["decode"] == "fast"
    again = manager.generate(GenerationRequest(**REQUEST, decode="fast"))
    assert np.array_equal(_pixels(again), _pixels(fast))  # a seed gives the same picture again
    decoders = [c for c in manager.status()["components"] if c["component"] == "fast_decoder"]
    assert decoders and decoders[0]["bytes"] > 0
    assert "TAESD for SD 1.x" in {c["model"] for c in decoders}  # as the Models tab lists it
    started = manager.generate(GenerationRequest(**REQUEST, task="img2img", image=full.images[0], decode="fast"))
    assert "VAE Decoder: TAESD" in started.infotexts[0] and "VAE Encoder: TAESD" in started.infotexts[0]


@pytest.mark.parametrize("model", ["tiny-sdxl", "tiny-sd3", "tiny-flux"])
def test_every_family_has_its_own_tiny_decoder(manager, model):
    previews = []
    result = manager.generate(GenerationRequest(**REQUEST, model=model, decode="fast"), on_preview=previews.append)
    assert result.images[0].size == (64, 64) and {p.size for p in previews} == {(64, 64)}
    assert "VAE Decoder: TAESD" in result.infotexts[0]


def test_the_engines_decode_is_the_default_and_a_request_may_choose_otherwise(manager, library):
    fast_by_default = _manager(library, decode="fast")
    assert "VAE Decoder: TAESD" in fast_by_default.generate(GenerationRequest(**REQUEST)).infotexts[0]
    full = fast_by_default.generate(GenerationRequest(**REQUEST, decode="full"))
    assert "TAESD" not in full.infotexts[0]


def test_a_decode_that_cannot_be_is_refused_by_name(manager, library):
    with pytest.raises(InvalidRequest) as refused:
        manager.generate(GenerationRequest(**REQUEST, decode="medium"))
    assert refused.value.field == "decode"
    with pytest.raises(InvalidRequest, match="names no fast decoder") as refused:
        _manager(_library_with(library)).generate(GenerationRequest(**REQUEST, decode="fast"))
    assert refused.value.field == "decode"


def test_png_info_brings_the_decode_back():
    from pipelines import SHARED_NAMES
    from ui.common import EngineInfo
    from ui.png_info import settings_from

    info = EngineInfo(models=["tiny-sd15"], default_model="tiny-sd15", samplers=["Euler"], control_types=[],
                      default_sampler="Euler", default_size=64, default_steps=3, max_steps=150, max_batch=8,
                      max_side=2048)
    values = dict(zip(SHARED_NAMES, settings_from("a wall\nSteps: 3, Seed: 1, VAE Decoder: TAESD, Feature cache: 3",
                                                  info)[0]))
    assert (values["decode"], values["feature_cache"]) == ("fast", 3)
    values = dict(zip(SHARED_NAMES, settings_from("a wall\nSteps: 3, Seed: 1", info)[0]))
    assert (values["decode"], values["feature_cache"]) == ("full", 0)


def test_the_flag_sets_the_engines_decode():
    from server.app_settings import parse

    assert parse(["--decode", "fast"]).engine.decode == "fast" and parse([]).engine.decode == "full"
