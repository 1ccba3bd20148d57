"""Prompts read as A1111 reads them, and its extra networks, on the tiny models with the tiny A1111 folder.

`python -m pipelines.tiny` writes, beside the tiny models, an A1111 `models` folder with a kohya LoRA, a
peft LoRA in a subfolder, an SDXL LoRA, a VAE, an A1111 embedding and styles.csv (pipelines/tiny_extras.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.catalog import Library
from pipelines.errors import InvalidRequest
from pipelines.metadata import parse_parameters
from pipelines.request import GenerationRequest
from pipelines.tiny import tiny_extras_dir

BASE = dict(model="tiny-sd15", steps=1, seed=11, width=64, height=64)


@pytest.fixture(scope="module")
def folders_manager(tiny_dir, tmp_path_factory):
    import os

    from pipelines.engine_settings import EngineSettings
    from pipelines.manager import PipelineManager

    styles = tmp_path_factory.mktemp("styles") / "styles.csv"
    styles.write_text((tiny_dir / "a1111" / "styles.csv").read_text())
    library = Library.from_file(tiny_dir / "models.yaml")
    assert library.add_folders([tiny_extras_dir(tiny_dir / "models.yaml")], styles) == []
    return PipelineManager(library, EngineSettings(device=os.environ.get("EASEL_TEST_DEVICE", "cpu"),
                                                   watermark=False, content_credentials=False))


def pixels(manager, **fields):
    result = manager.generate(GenerationRequest(**{**BASE, **fields}))
    return np.asarray(result.images[0], dtype=np.int16), result


def test_the_folder_is_read_as_a1111_names_it(folders_manager):
    library = folders_manager.library
    assert {"tiny-lora", "tiny-lora-peft", "tiny-lora-sdxl"} <= set(library.loras())
    assert "tinyemb" in library.embeddings()
    assert "tiny-vae" in "".join(library.vaes())


def test_a_lora_changes_the_picture_and_weight_zero_changes_nothing(folders_manager):
    plain, _ = pixels(folders_manager, prompt="a cat")
    with_lora, result = pixels(folders_manager, prompt="a cat <lora:tiny-lora:1>")
    zero, _ = pixels(folders_manager, prompt="a cat <lora:tiny-lora:0>")
    assert np.abs(with_lora - plain).max() > 10
    assert np.array_equal(zero, plain)
    settings = parse_parameters(result.infotexts[0])["settings"]
    assert settings["Lora hashes"].startswith("tiny-lora: ") and len(settings["Lora hashes"]) == len("tiny-lora: ") + 12
    assert "<lora:tiny-lora:1>" in result.infotexts[0].splitlines()[0]  # the tag stays in the prompt, as in A1111
    after, _ = pixels(folders_manager, prompt="a cat")
    assert np.array_equal(after, plain)  # the next run does not inherit the LoRA


def test_a_peft_lora_in_a_subfolder_and_two_loras_at_once(folders_manager):
    plain, _ = pixels(folders_manager, prompt="a cat")
    peft, _ = pixels(folders_manager, prompt="a cat <lora:tiny-lora-peft:0.8>")
    both, result = pixels(folders_manager, prompt="a cat <lora:tiny-lora-peft:0.8> <lyco:tiny-lora:0.5>")
    assert np.abs(peft - plain).max() > 10 and np.abs(both - peft).max() > 10
    assert parse_parameters(result.infotexts[0])["settings"]["Lora hashes"].count(":") == 2


def test_separate_text_encoder_and_unet_weights(folders_manager):
    unet_only, _ = pixels(folders_manager, prompt="a cat <lora:tiny-lora:0:1>")
    both, _ = pixels(folders_manager, prompt="a cat <lora:tiny-lora:1:1>")
    assert np.abs(unet_only - both).max() > 0  # A1111's order: <lora:name:te:unet>


def test_what_cannot_be_honoured_is_said_and_the_picture_is_made(folders_manager):
    plain, _ = pixels(folders_manager, prompt="a cat")
    picture, result = pixels(folders_manager, prompt="a cat <lora:no-such-lora:1> <lora:tiny-lora-sdxl:1> <hypernet:x:1>")
    assert np.array_equal(picture, plain)
    text = " | ".join(result.warnings)
    assert "no LoRA named 'no-such-lora'" in text
    assert "tiny-lora-sdxl" in text and "tiny-sd15" in text and "cannot be used together" in text
    assert "hypernet" in text


def test_a_non_numeric_weight_is_refused_naming_the_field(folders_manager):
    with pytest.raises(InvalidRequest) as error:
        folders_manager.generate(GenerationRequest(**BASE, prompt="a cat <lora:tiny-lora:strong>"))
    assert error.value.field == "prompt" and "<lora:tiny-lora:strong>" in str(error.value)


def test_an_embedding_by_name_changes_the_picture(folders_manager):
    plain, _ = pixels(folders_manager, prompt="a cat", negative_prompt="ugly")
    embedded, result = pixels(folders_manager, prompt="a cat", negative_prompt="ugly, tinyemb")
    assert np.abs(embedded - plain).max() > 10
    assert parse_parameters(result.infotexts[0])["settings"]["TI hashes"].startswith("tinyemb: ")
    report = folders_manager.embedding_report("tiny-sd15")
    assert report["loaded"]["tinyemb"]["vectors"] == 2 and report["loaded"]["tinyemb"]["shape"] == 32


def test_attention_weights_break_and_long_prompts_count(folders_manager):
    plain, _ = pixels(folders_manager, prompt="a red cat")
    weighted, _ = pixels(folders_manager, prompt="a (red:1.5) cat")
    same, _ = pixels(folders_manager, prompt="a (red:1) cat")
    assert np.abs(weighted - plain).max() > 10
    assert np.array_equal(same, plain)
    broken, _ = pixels(folders_manager, prompt="a red BREAK cat")
    assert np.abs(broken - plain).max() > 10
    # the tiny tokenizer reads one token per character: these differ only after the 80th token
    head = ("a cat sitting on a wooden table next to a window in the morning light, with a cup of tea, "
            "a book and a plant beside it, painted ")
    assert len(head.replace(" ", "")) > 80
    one, _ = pixels(folders_manager, prompt=head + "in oil")
    other, _ = pixels(folders_manager, prompt=head + "in ink")
    assert not np.array_equal(one, other)  # cut at 77 tokens, as before, they were the same picture


def test_prompt_editing_changes_the_picture_at_its_step(folders_manager):
    start, _ = pixels(folders_manager, prompt="a dog", steps=4)
    end, _ = pixels(folders_manager, prompt="a cat", steps=4)
    edited, _ = pixels(folders_manager, prompt="a [dog:cat:2]", steps=4)
    assert not np.array_equal(edited, start) and not np.array_equal(edited, end)


def test_clip_skip_and_a_chosen_vae_change_the_picture_and_are_written(folders_manager):
    vae = next(iter(folders_manager.library.vaes()))
    plain, _ = pixels(folders_manager, prompt="a cat")
    skipped, result = pixels(folders_manager, prompt="a cat", clip_skip=2)
    assert np.abs(skipped - plain).max() > 10
    assert parse_parameters(result.infotexts[0])["settings"]["Clip skip"] == "2"
    decoded, result = pixels(folders_manager, prompt="a cat", vae=vae)
    assert np.abs(decoded - plain).max() > 10
    settings = parse_parameters(result.infotexts[0])["settings"]
    assert settings["VAE"] == vae and len(settings["VAE hash"]) == 10


def test_clip_skip_on_sdxl_is_not_used_and_says_so(folders_manager):
    result = folders_manager.generate(GenerationRequest(model="tiny-sdxl", prompt="a cat", steps=1, seed=1,
                                                        clip_skip=2))
    assert any("clip_skip" in w and "SD 1.x" in w for w in result.warnings)


def test_styles_are_applied_on_the_server(folders_manager):
    plain, _ = pixels(folders_manager, prompt="cinematic still of a cat, shallow depth of field",
                      negative_prompt="cartoon, drawing")
    styled, result = pixels(folders_manager, prompt="a cat", styles=["Cinematic"])
    assert np.array_equal(styled, plain)
    assert result.infotexts[0].startswith("cinematic still of a cat, shallow depth of field")
    _, result = pixels(folders_manager, prompt="a cat", styles=["No such style"])
    assert any("No such style" in w for w in result.warnings)


def test_the_parameters_text_reproduces_the_picture(folders_manager):
    """A picture made with a LoRA, weights, an embedding, CLIP skip and a VAE, made again from what PNG Info reads."""
    from pipelines import SHARED_NAMES
    from ui.common import EngineInfo
    from ui.png_info import settings_from

    vae = next(iter(folders_manager.library.vaes()))
    first, result = pixels(folders_manager, prompt="a (red:1.2) cat <lora:tiny-lora:0.7>", negative_prompt="tinyemb",
                           clip_skip=2, vae=vae, sampler="Euler a")
    info = EngineInfo(models=["tiny-sd15"], default_model="tiny-sd15", samplers=folders_manager.samplers(),
                      control_types=[], default_sampler="Euler", default_size=64, default_steps=2, max_steps=50,
                      max_batch=4, max_side=512, vaes=[vae])
    values, skipped = settings_from(result.infotexts[0], info)
    assert skipped == []
    sent = {name: value for name, value in zip(SHARED_NAMES, values) if isinstance(value, (str, int, float, list))}
    assert (sent["clip_skip"], sent["vae"]) == (2, vae)
    again = folders_manager.generate(GenerationRequest(**sent))
    assert np.array_equal(first, np.asarray(again.images[0], dtype=np.int16))


def test_a_broken_lora_file_is_left_out_naming_it(folders_manager, tmp_path):
    lora_dir = tmp_path / "models" / "Lora"
    lora_dir.mkdir(parents=True)
    good = next(iter(folders_manager.library.loras().values())).path
    (lora_dir / "truncated.safetensors").write_bytes(good.read_bytes()[:200])
    (lora_dir / "notalora.safetensors").write_bytes(_safetensors_without_lora_keys())
    library = folders_manager.library
    old_folders = list(library.folders)
    library.add_folders([*old_folders, tmp_path / "models"])
    try:
        _, result = pixels(folders_manager, prompt="a cat <lora:truncated:1> <lora:notalora:1>")
    finally:
        library.add_folders(old_folders)
    text = " | ".join(result.warnings)
    assert "truncated.safetensors" in text and "notalora.safetensors" in text


def _safetensors_without_lora_keys() -> bytes:
    import json
    import struct

    header = json.dumps({"weight": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\0" * 8


def test_prompt_syntax_problems_are_said_or_refused_naming_the_field(folders_manager):
    result = folders_manager.generate(GenerationRequest(**BASE, prompt="a (red cat", negative_prompt="blur AND noise"))
    assert any(w.startswith("prompt: unclosed '('") for w in result.warnings)
    assert any(w.startswith("negative_prompt:") and "AND" in w for w in result.warnings)
    with pytest.raises(InvalidRequest) as error:
        folders_manager.generate(GenerationRequest(**BASE, prompt="a (red:50) cat"))
    assert error.value.field == "prompt" and "(red:50)" in str(error.value)
    with pytest.raises(InvalidRequest) as error:
        folders_manager.generate(GenerationRequest(**BASE, prompt="a cat", negative_prompt="<lora:x:abc>"))
    assert error.value.field == "negative_prompt"
    with pytest.raises(InvalidRequest) as error:
        folders_manager.generate(GenerationRequest(**BASE, prompt="a cat" * 3000))
    assert error.value.field == "prompt" and "characters long" in str(error.value)


def test_choosing_a_model_brings_its_defaults(folders_manager):
    from dataclasses import replace

    from ui.common import model_defaults

    library = folders_manager.library
    library.models["tiny-turbo"] = replace(library.models["tiny-sd15"], name="tiny-turbo", turbo=True)
    try:
        for model, expected in (("tiny-turbo", [64, 64, 4, 0.0, "Euler a"]),
                                ("tiny-sd15", [64, 64, 25, 7.0, "DPM++ 2M Karras"])):
            width, height, steps, guidance, sampler, note = model_defaults(folders_manager, model)
            assert [width, height, steps, guidance["value"], sampler] == expected
            assert guidance["label"] == "Guidance (CFG scale)" and guidance["maximum"] == 30 and note == ""
        # FLUX.1: its own sampler, its guidance under Forge's name, and what it cannot do said beside the model
        *values, guidance, sampler, note = model_defaults(folders_manager, "tiny-flux")
        assert values == [64, 64, 28] and sampler == "Euler"
        assert guidance == {"__type__": "update", "value": 3.5, "label": "Guidance (Distilled CFG Scale)", "maximum": 10}
        assert note.startswith("FLUX.1 is a diffusion transformer: sampler Euler") and "no negative prompt" in note
    finally:
        del library.models["tiny-turbo"]


def test_sdxl_reads_weights_and_its_clip_l_clip_g_embeddings(folders_manager, tmp_path):
    import torch
    from safetensors.torch import save_file

    embeddings = tmp_path / "embeddings"
    embeddings.mkdir()
    torch.manual_seed(1)
    save_file({"clip_l": torch.randn(2, 32) * 2, "clip_g": torch.randn(2, 32) * 2}, str(embeddings / "xlemb.safetensors"))
    library = folders_manager.library
    old_folders = list(library.folders)
    library.add_folders([*old_folders, tmp_path])
    sdxl = dict(model="tiny-sdxl", steps=2)
    try:
        plain, _ = pixels(folders_manager, prompt="a cat", **sdxl)
        weighted, _ = pixels(folders_manager, prompt="a (cat:1.4)", **sdxl)
        embedded, result = pixels(folders_manager, prompt="a cat xlemb", **sdxl)
        _, mismatched = pixels(folders_manager, prompt="a cat tinyemb", **sdxl)
        report = folders_manager.embedding_report("tiny-sdxl")
    finally:
        library.add_folders(old_folders)
    # the tiny SDXL model follows its prompt only faintly: any change of pixels shows the conditioning changed
    assert not np.array_equal(weighted, plain) and not np.array_equal(embedded, plain)
    assert "TI hashes" in result.infotexts[0]
    assert any("tinyemb" in w and "one-encoder" in w for w in mismatched.warnings)
    assert "xlemb" in report["loaded"] and "one-encoder" in report["skipped"]["tinyemb"]["reason"]


def test_a_prompt_whose_features_average_to_zero_still_paints(folders_manager):
    """A random model's text features can average to exactly zero; A1111's rescale to the former mean then
    divides by zero. With no weight there is nothing to rescale, and the picture is a picture, not black."""
    for prompt in ("a lighthouse on a cliff at dusk, oil painting", "a (lighthouse:1.3) on a cliff at dusk, oil painting"):
        picture, _ = pixels(folders_manager, prompt=prompt, seed=1234)
        assert picture.std() > 10, prompt
