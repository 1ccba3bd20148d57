"""Variation seeds with A1111's semantics: the picture of seed A moved toward seed B's by a strength (0: A's own
picture, 1: B's), B counted up across a batch as the seeds are, a seed's noise drawn as for another size, the
parameters text that makes the picture again, and bad values refused by name."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipelines.errors import InvalidRequest
from pipelines.metadata import parse_parameters
from pipelines.request import GenerationRequest


@pytest.fixture(scope="module")
def engine(tiny_dir):
    from pipelines.catalog import Library
    from pipelines.engine_settings import EngineSettings
    from pipelines.manager import PipelineManager

    library = Library.from_file(tiny_dir / "models.yaml")
    return PipelineManager(library, EngineSettings(device="cpu", watermark=False, content_credentials=False))


def pixels(engine, **fields) -> list[np.ndarray]:
    request = GenerationRequest(prompt="a meadow", steps=3, width=64, height=64, **fields)
    return [np.asarray(picture) for picture in engine.generate(request).images]


def test_strength_0_is_seed_a_s_picture_and_1_is_seed_b_s(engine):
    [a], [b] = pixels(engine, seed=1), pixels(engine, seed=2)
    [none] = pixels(engine, seed=1, subseed=2, subseed_strength=0.0)
    [full] = pixels(engine, seed=1, subseed=2, subseed_strength=1.0)
    [half] = pixels(engine, seed=1, subseed=2, subseed_strength=0.5)
    assert np.array_equal(none, a) and np.array_equal(full, b)
    assert not np.array_equal(half, a) and not np.array_equal(half, b)


def test_a_batch_counts_the_variation_seed_up_with_the_seed_and_says_so(engine):
    result = engine.generate(GenerationRequest(prompt="a meadow", steps=3, width=64, height=64, seed=10, subseed=20,
                                               subseed_strength=1.0, batch_size=2))
    alone = pixels(engine, seed=21)[0].astype(np.int16)
    assert np.abs(np.asarray(result.images[1], dtype=np.int16) - alone).max() <= 1  # batched maths may round differently
    settings = parse_parameters(result.infotexts[1])["settings"]
    assert (settings["Seed"], settings["Variation seed"], settings["Variation seed strength"]) == ("11", "21", "1")


def test_a_random_variation_seed_is_drawn_and_written(engine):
    result = engine.generate(GenerationRequest(prompt="a meadow", steps=3, width=64, height=64, seed=3,
                                               subseed_strength=0.3))
    subseed = int(parse_parameters(result.infotexts[0])["settings"]["Variation seed"])
    assert np.array_equal(np.asarray(result.images[0]),
                          pixels(engine, seed=3, subseed=subseed, subseed_strength=0.3)[0])


def test_image_to_image_varies_too(engine):
    start = Image.new("RGB", (64, 64), "olive")
    [plain] = pixels(engine, task="img2img", image=start, strength=0.8, seed=5)
    [varied] = pixels(engine, task="img2img", image=start, strength=0.8, seed=5, subseed=6, subseed_strength=0.7)
    assert not np.array_equal(plain, varied)


def test_seed_resize_from_draws_the_seed_as_for_another_size(engine):
    [own] = pixels(engine, seed=8)
    [same] = pixels(engine, seed=8, seed_resize_from_w=64, seed_resize_from_h=64)  # its own size: its own noise
    [other] = pixels(engine, seed=8, seed_resize_from_w=128, seed_resize_from_h=96)
    assert np.array_equal(own, same) and not np.array_equal(own, other)
    result = engine.generate(GenerationRequest(prompt="a", steps=3, width=64, height=64, seed=8,
                                               seed_resize_from_w=128, seed_resize_from_h=96))
    assert parse_parameters(result.infotexts[0])["settings"]["Seed resize from"] == "128x96"


@pytest.mark.parametrize("fields, field", [(dict(subseed=-2), "subseed"), (dict(subseed_strength=1.5), "subseed_strength"),
                                           (dict(seed_resize_from_w=30, seed_resize_from_h=30), "seed_resize_from_w")])
def test_bad_values_are_refused_by_name(engine, fields, field):
    with pytest.raises(InvalidRequest) as refused:
        pixels(engine, seed=1, **fields)
    assert refused.value.field == field
