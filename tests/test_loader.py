"""Models named by folder, single file or hub id load the same way; failures say what to do."""

from __future__ import annotations

import shutil

import pytest
import torch

from pipelines.catalog import ModelEntry
from pipelines.loader import ModelLoadError, load_base
from pipelines.model_sources import peek
from pipelines.request import GenerationRequest


def entry(source, base_dir=None, **kw):
    return ModelEntry(name=kw.pop("name", "test-model"), source=str(source), base_dir=base_dir, **kw)


@pytest.mark.parametrize("folder, family, inpainting", [
    ("sd15-tiny", "sd1", False), ("sd15-tiny-inpaint", "sd1", True), ("sdxl-tiny", "sdxl", False),
])
def test_the_family_is_read_from_the_weights(tiny_dir, folder, family, inpainting):
    loaded = load_base(entry(tiny_dir / folder), torch.float32)
    assert (loaded.family, loaded.inpainting) == (family, inpainting)
    assert peek(entry(tiny_dir / folder)) == (family, inpainting)


def test_the_family_does_not_come_from_the_name(tiny_dir, tmp_path):
    misleading = tmp_path / "sd15-but-really-sdxl"
    shutil.copytree(tiny_dir / "sdxl-tiny", misleading)
    assert load_base(entry(misleading), torch.float32).family == "sdxl"


def test_a_single_file_checkpoint_loads_with_its_family_and_hash(tiny_dir):
    loaded = load_base(entry("sd15-tiny.safetensors", tiny_dir, config="sd15-tiny"), torch.float32)
    assert loaded.family == "sd1"
    assert len(loaded.model_hash) == 10
    assert peek(entry(tiny_dir / "sd15-tiny.safetensors")) == ("sd1", False)


def test_a_pickle_checkpoint_is_refused_unless_the_user_opts_in(tiny_dir, tmp_path):
    from safetensors.torch import load_file

    pickle = tmp_path / "model.ckpt"
    torch.save({"state_dict": load_file(tiny_dir / "sd15-tiny.safetensors")}, pickle)
    with pytest.raises(ModelLoadError, match="pickle checkpoint.*--allow-pickle"):
        load_base(entry(pickle, config=str(tiny_dir / "sd15-tiny")), torch.float32)
    loaded = load_base(entry(pickle, config=str(tiny_dir / "sd15-tiny")), torch.float32, allow_pickle=True)
    assert loaded.family == "sd1"


def test_a_truncated_weights_file_gives_a_clear_error_naming_the_model(tiny_dir, tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes((tiny_dir / "sd15-tiny.safetensors").read_bytes()[:5000])
    with pytest.raises(ModelLoadError, match="test-model.*download it again"):
        load_base(entry(broken, config=str(tiny_dir / "sd15-tiny")), torch.float32)


def test_an_unknown_file_type_is_refused(tmp_path):
    odd = tmp_path / "model.onnx"
    odd.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="unknown file type"):
        load_base(entry(odd), torch.float32)


def test_a_missing_local_path_says_so(tmp_path):
    with pytest.raises(ModelLoadError, match="no such file or folder"):
        load_base(entry(tmp_path / "nowhere.safetensors"), torch.float32)


def test_a_hub_model_that_cannot_be_downloaded_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelLoadError) as failure:
        load_base(entry("some-org/some-model-not-cached"), torch.float32)
    message = str(failure.value)
    assert "some-org/some-model-not-cached" in message and "local folder or .safetensors file" in message


def test_the_engine_stays_usable_after_a_model_fails_to_load(make_manager, tiny_dir, tmp_path):
    from pipelines.catalog import Library

    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 100)
    library_file = tmp_path / "models.yaml"
    library_file.write_text(f"include_builtin: false\nmodels:\n  broken:\n    source: {broken}\n"
                            f"  tiny:\n    source: {tiny_dir / 'sd15-tiny'}\n    default_size: 64\n")
    manager = make_manager()
    manager.library = Library.from_file(library_file)
    with pytest.raises(Exception) as failure:
        manager.generate(GenerationRequest(model="broken", prompt="a", steps=1))
    assert "broken" in str(failure.value)
    assert manager.generate(GenerationRequest(model="tiny", prompt="a", steps=1, seed=1)).images


def test_downloads_report_progress_through_the_hub_progress_bars():
    from pipelines.loader import hub_progress_bar

    lines = []
    bar_class = hub_progress_bar("sd15", lines.append)
    with bar_class(total=4 * 2**20, disable=False) as bar:
        bar.update(2**20)
        bar.update(3 * 2**20)
    assert lines[0] == "downloading sd15: 25 % of 4 MiB" and lines[-1] == "downloading sd15: 100 % of 4 MiB"
