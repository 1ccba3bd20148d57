"""Wildcards and dynamic prompts as sd-dynamic-prompts writes them: each picture of a batch draws its own prompt
with its own seed, the infotext keeps the drawn prompt and the template on the extension's own lines, the drawn
prompt makes the same picture again, and what cannot be drawn is refused naming the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pipelines.errors import InvalidRequest
from pipelines.metadata import parse_parameters
from pipelines.request import GenerationRequest
from pipelines.tiny import tiny_extras_dir


@pytest.fixture(scope="module")
def folder(tiny_dir, tmp_path_factory):
    """An A1111 folder with the demo's wildcards copied, so rings and missing files can be added without touching
    the shared one (its models/ holds an empty Lora/: only the wildcards matter here)."""
    root = tmp_path_factory.mktemp("wildcards") / "webui"
    wildcards = Path("extensions") / "sd-dynamic-prompts" / "wildcards"
    shutil.copytree(tiny_extras_dir(tiny_dir / "models.yaml").parent / wildcards, root / wildcards)
    (root / "models" / "Lora").mkdir(parents=True)
    return root


@pytest.fixture(scope="module")
def engine(tiny_dir, folder):
    from pipelines.catalog import Library
    from pipelines.engine_settings import EngineSettings
    from pipelines.manager import PipelineManager

    library = Library.from_file(tiny_dir / "models.yaml")
    library.add_folders([folder / "models"])
    return PipelineManager(library, EngineSettings(device="cpu", watermark=False, content_credentials=False))


def make(engine, **fields):
    return engine.generate(GenerationRequest(**{"steps": 2, "width": 64, "height": 64, **fields}))


def test_the_extension_s_folder_is_found(engine, folder):
    assert engine.library.wildcards_folder() == folder / "extensions" / "sd-dynamic-prompts" / "wildcards"


def test_each_picture_draws_its_own_prompt_and_the_infotext_keeps_the_template(engine):
    template = "__animals/pets__ on {grass|sand|snow}"
    steps = []
    result = engine.generate(GenerationRequest(prompt=template, negative_prompt="{ugly|blurry}", seed=11, steps=2,
                                               width=64, height=64, batch_size=4),
                             on_step=lambda info: steps.append((info.step, info.total)))
    assert result.seeds == [11, 12, 13, 14]
    assert len(result.images) == len(result.prompts) == 4
    assert steps == [(i, 8) for i in range(1, 9)]  # one progress bar over the four runs
    for prompt, negative, text in zip(result.prompts, result.negative_prompts, result.infotexts):
        assert "__" not in prompt and "{" not in prompt
        assert prompt.split(" on ")[1] in ("grass", "sand", "snow")
        assert prompt.split(" on ")[0] in ("a small cat", "a large cat", "a red dog", "a green dog", "a blue dog")
        assert negative in ("ugly", "blurry")
        read = parse_parameters(text)
        assert (read["prompt"], read["negative_prompt"]) == (prompt, negative)
        assert (read["template"], read["negative_template"]) == (template, "{ugly|blurry}")
    assert len(set(result.prompts)) > 1  # four draws of 15 prompts are not all the same


def test_the_same_seed_draws_the_same_prompt_and_the_drawn_prompt_makes_the_same_picture(engine):
    first = make(engine, prompt="a {red|green|blue|pink|grey} house", seed=21, batch_size=2)
    again = make(engine, prompt="a {red|green|blue|pink|grey} house", seed=22)
    assert again.prompts[0] == first.prompts[1]
    plain = make(engine, prompt=first.prompts[1], seed=22)
    assert np.array_equal(np.asarray(plain.images[0]), np.asarray(first.images[1]))
    assert "Template:" not in plain.infotexts[0]


def test_two_of_three(engine):
    result = make(engine, prompt="{2$$ and $$red|green|blue}", seed=3)
    chosen = result.prompts[0].split(" and ")
    assert len(chosen) == 2 and len(set(chosen)) == 2 and set(chosen) <= {"red", "green", "blue"}


def test_a_prompt_without_syntax_is_one_run(engine):
    result = make(engine, prompt="a plain prompt", seed=1, batch_size=2)
    assert result.prompts == [] and result.seeds == [1, 2]


@pytest.mark.parametrize("fields, field, words", [
    ({"prompt": "a __nowhere__ cat"}, "prompt", "__nowhere__"),
    ({"negative_prompt": "{ugly|blurry"}, "negative_prompt", "each { closed"),
    ({"prompt": "a __ring__ cat"}, "prompt", "__ring__ → __loop__ → __ring__"),
    ({"prompt": "{a|b}", "batch_size": 999}, "batch_size", "from 1 to"),
])
def test_what_cannot_be_drawn_is_refused_naming_the_field(engine, folder, fields, field, words):
    wildcards = folder / "extensions" / "sd-dynamic-prompts" / "wildcards"
    (wildcards / "ring.txt").write_text("__loop__\n")
    (wildcards / "loop.txt").write_text("x __ring__\n")
    with pytest.raises(InvalidRequest) as refused:
        make(engine, **fields)
    assert refused.value.field == field and words in str(refused.value)
    assert make(engine, prompt="{a|b}", seed=1).images  # the next request works
