"""A user's A1111 or ComfyUI `models` folders, found and named as A1111 names them, and hashed as A1111 hashes.

The folders are built in tmp_path from small fake files: a .safetensors file is its 8-byte header length, its
JSON header and a few bytes of data, which is all the scan and the hashes read.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from pipelines.model_folders import (
    INFOTEXT_HASHES,
    addnet_hash,
    full_hash,
    infotext_hash,
    paths_from_env,
    scan,
    short_hash,
)

DATA = bytes(range(16))


def safetensors(path: Path, metadata: dict | None = None, data: bytes = DATA) -> Path:
    header = {"weight": {"dtype": "U8", "shape": [len(data)], "data_offsets": [0, len(data)]}}
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    return write(path, len(raw).to_bytes(8, "little") + raw + data)


def write(path: Path, content: bytes = b"weights") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def a1111(tmp_path) -> Path:
    """An A1111 install's `models` folder, its embeddings beside it, with a file of each kind."""
    models = tmp_path / "stable-diffusion-webui" / "models"
    safetensors(models / "Stable-diffusion" / "sdxl" / "juggernaut.safetensors")
    write(models / "Stable-diffusion" / "v1-5-pruned.ckpt")
    safetensors(models / "Stable-diffusion" / "v1-5-pruned.vae.safetensors")  # a VAE for A1111, not a model
    write(models / "Stable-diffusion" / "v1-5-pruned.yaml", b"model: {}")
    safetensors(models / "Lora" / "add_detail.safetensors")
    safetensors(models / "Lora" / "styles" / "film grain.safetensors")
    write(models / "LyCORIS" / "locon_anime.pt")
    safetensors(models / "VAE" / "vae-ft-mse-840000.safetensors")
    write(models / "ControlNet" / "control_v11p_sd15_canny.pth")
    write(models / "ESRGAN" / "4x-UltraSharp.pth")
    write(models / "RealESRGAN" / "RealESRGAN_x4plus.pth")
    safetensors(models.parent / "embeddings" / "EasyNegative.safetensors")
    write(models.parent / "embeddings" / "hands" / "bad-hands-5.pt")
    write(models.parent / "embeddings" / "EasyNegative.png", b"\x89PNG")  # its preview, not an embedding
    return models


def test_an_a1111_folder_is_named_as_a1111_names_it(a1111):
    found = scan([a1111])

    assert list(found.checkpoints) == ["v1-5-pruned.ckpt", "sdxl/juggernaut.safetensors"]  # a folder's files first
    assert set(found.loras) == {"add_detail", "film grain", "locon_anime"}
    assert set(found.vaes) == {"v1-5-pruned.vae.safetensors", "vae-ft-mse-840000.safetensors"}
    assert list(found.controlnets) == ["control_v11p_sd15_canny"]
    assert set(found.upscalers) == {"4x-UltraSharp", "RealESRGAN_x4plus"}
    assert set(found.embeddings) == {"EasyNegative", "bad-hands-5"}  # from ../embeddings, beside models/
    assert found.warnings == []
    lora = found.loras["film grain"]
    assert (lora.kind, lora.path) == ("lora", a1111 / "Lora" / "styles" / "film grain.safetensors")
    assert lora.size == lora.path.stat().st_size
    assert found.embeddings["EasyNegative"].preview == a1111.parent / "embeddings" / "EasyNegative.png"


def test_a_comfyui_folder_and_its_diffusers_folders(tmp_path):
    models = tmp_path / "ComfyUI" / "models"
    safetensors(models / "checkpoints" / "SDXL" / "dreamshaper.safetensors")
    write(models / "checkpoints" / "sd15-diffusers" / "model_index.json", b"{}")
    safetensors(models / "checkpoints" / "sd15-diffusers" / "unet" / "diffusion_pytorch_model.safetensors")
    safetensors(models / "loras" / "pixel-art.safetensors")
    safetensors(models / "vae" / "sdxl_vae.safetensors")
    write(models / "controlnet" / "canny-diffusers" / "config.json", b"{}")
    safetensors(models / "controlnet" / "canny-diffusers" / "diffusion_pytorch_model.safetensors")
    write(models / "controlnet" / "depth.bin")
    safetensors(models / "upscale_models" / "4x_NMKD.safetensors")
    write(models / "embeddings" / "negative_hand.pt")

    found = scan([models])

    assert set(found.checkpoints) == {"SDXL/dreamshaper.safetensors", "sd15-diffusers"}  # not its unet's file
    diffusers = found.checkpoints["sd15-diffusers"]
    assert diffusers.path == models / "checkpoints" / "sd15-diffusers"
    assert diffusers.size == sum(f.stat().st_size for f in diffusers.path.rglob("*") if f.is_file())
    assert list(found.loras) == ["pixel-art"]
    assert list(found.vaes) == ["sdxl_vae.safetensors"]
    assert set(found.controlnets) == {"canny-diffusers", "depth"}
    assert list(found.upscalers) == ["4x_NMKD"]
    assert list(found.embeddings) == ["negative_hand"]
    assert found.warnings == []


def test_both_layouts_mixed_in_one_folder_and_several_folders(tmp_path):
    mixed = tmp_path / "mixed"
    safetensors(mixed / "Lora" / "from-a1111.safetensors")
    safetensors(mixed / "loras" / "from-comfy.safetensors")
    safetensors(mixed / "checkpoints" / "model.safetensors")
    other = tmp_path / "other"
    safetensors(other / "VAE" / "kl-f8.safetensors")

    found = scan([mixed, other])

    assert set(found.loras) == {"from-a1111", "from-comfy"}
    assert list(found.checkpoints) == ["model.safetensors"]
    assert list(found.vaes) == ["kl-f8.safetensors"]
    assert found.warnings == []


def test_folders_are_read_in_natural_order_and_hidden_files_are_skipped(tmp_path):
    loras = tmp_path / "models" / "Lora"
    for name in ("style10", "style2", "Style1"):
        safetensors(loras / f"{name}.safetensors")
    safetensors(loras / ".trash" / "deleted.safetensors")
    safetensors(loras / ".partial.safetensors")
    write(loras / "style2.json", b"{}")  # not a LoRA's extension

    found = scan([tmp_path / "models"])

    assert list(found.loras) == ["Style1", "style2", "style10"]


def test_a_preview_and_a_description_beside_a_file_are_found_as_a1111_finds_them(a1111):
    lora = a1111 / "Lora" / "add_detail"
    write(Path(f"{lora}.preview.png"), b"\x89PNG")
    write(Path(f"{lora}.jpg"), b"\xff\xd8")  # png before jpg, whether name.ext or name.preview.ext
    write(Path(f"{lora}.txt"), "Adds detail. Use at 0.5–1.".encode())
    write(a1111 / "Stable-diffusion" / "v1-5-pruned.preview.webp", b"RIFF")
    write(a1111 / "Stable-diffusion" / "v1-5-pruned.description.txt", b"The base model.")

    found = scan([a1111])

    assert found.loras["add_detail"].preview == Path(f"{lora}.preview.png")
    assert found.loras["add_detail"].description == "Adds detail. Use at 0.5–1."
    checkpoint = found.checkpoints["v1-5-pruned.ckpt"]
    assert checkpoint.preview == a1111 / "Stable-diffusion" / "v1-5-pruned.preview.webp"
    assert checkpoint.description == "The base model."
    assert found.loras["locon_anime"].preview is None and found.loras["locon_anime"].description is None


def test_a_second_file_of_the_same_name_is_left_out_with_a_warning(tmp_path):
    first = write(tmp_path / "one" / "Lora" / "detail.pt")
    same_folder = safetensors(tmp_path / "one" / "Lora" / "detail.safetensors")
    subfolder = safetensors(tmp_path / "one" / "Lora" / "old" / "detail.safetensors")
    other_dir = safetensors(tmp_path / "two" / "loras" / "detail.safetensors")

    found = scan([tmp_path / "one", tmp_path / "two"])

    assert found.loras["detail"].path == first
    assert len(found.warnings) == 3
    for warning, second in zip(found.warnings, (same_folder, subfolder, other_dir), strict=True):
        assert str(first) in warning and str(second) in warning and "detail" in warning


def test_the_same_folder_given_twice_is_read_once(a1111):
    found = scan([a1111, a1111, a1111.parent / "models"])

    assert found.warnings == []
    assert len(found.loras) == 3


def test_what_cannot_be_used_is_warned_about_and_the_rest_is_found(tmp_path, a1111):
    missing = tmp_path / "no-such-folder"
    not_a_folder = write(tmp_path / "models.txt")
    unrelated = tmp_path / "holiday-photos"
    write(unrelated / "beach.jpg")
    (a1111 / "Lora" / "gone.safetensors").symlink_to(tmp_path / "deleted.safetensors")
    write(a1111 / "Lora" / "interrupted.safetensors", b"")

    found = scan([missing, not_a_folder, unrelated, a1111])

    assert len(found.loras) == 3
    assert [w for w in found.warnings if str(missing) in w] == [f"model folder {missing} does not exist"]
    assert [w for w in found.warnings if str(not_a_folder) in w] == [f"model folder {not_a_folder} is not a folder"]
    assert any(str(unrelated) in w and "Stable-diffusion" in w and "checkpoints" in w for w in found.warnings)
    assert any("gone.safetensors" in w and "cannot be read" in w for w in found.warnings)
    assert any("interrupted.safetensors" in w and "empty" in w for w in found.warnings)
    assert len(found.warnings) == 5


def test_hashes_are_a1111s(tmp_path):
    checkpoint = safetensors(tmp_path / "model.safetensors", data=b"\x01" * 1000)
    whole = hashlib.sha256(checkpoint.read_bytes()).hexdigest()

    assert full_hash(checkpoint) == whole
    assert short_hash(checkpoint) == whole[:10]  # A1111's "Model hash" and the [hash] of a checkpoint's title


def test_a_loras_hash_skips_its_header_so_editing_the_metadata_keeps_it(tmp_path):
    lora = safetensors(tmp_path / "a.safetensors", {"ss_output_name": "a"}, data=b"\x02" * 64)
    retitled = safetensors(tmp_path / "b.safetensors", {"ss_output_name": "b", "notes": "renamed"}, data=b"\x02" * 64)
    retrained = safetensors(tmp_path / "c.safetensors", {"ss_output_name": "a"}, data=b"\x03" * 64)

    assert addnet_hash(lora) == hashlib.sha256(b"\x02" * 64).hexdigest()
    assert addnet_hash(retitled) == addnet_hash(lora)
    assert full_hash(retitled) != full_hash(lora)
    assert addnet_hash(retrained) != addnet_hash(lora)


def test_a_lora_that_is_not_safetensors_is_hashed_whole_as_a1111_does(tmp_path):
    lora = write(tmp_path / "old.pt", b"pickled weights")

    assert addnet_hash(lora) == hashlib.sha256(b"pickled weights").hexdigest()


def test_the_infotext_takes_each_kinds_hash_at_a1111s_length(a1111):
    found = scan([a1111])
    checkpoint, lora = found.checkpoints["sdxl/juggernaut.safetensors"], found.loras["add_detail"]
    vae, embedding = found.vaes["vae-ft-mse-840000.safetensors"], found.embeddings["EasyNegative"]

    assert {kind: field for kind, (field, _, _) in INFOTEXT_HASHES.items()} == {
        "checkpoint": "Model hash", "vae": "VAE hash", "lora": "Lora hashes", "embedding": "TI hashes"}
    assert infotext_hash(checkpoint) == full_hash(checkpoint.path)[:10]
    assert infotext_hash(vae) == full_hash(vae.path)[:10]
    assert infotext_hash(lora) == addnet_hash(lora.path)[:12]
    assert infotext_hash(embedding) == full_hash(embedding.path)[:12]


def test_a_hash_is_read_once_per_version_of_the_file(tmp_path):
    model = write(tmp_path / "model.ckpt", b"A" * 100)
    before = full_hash(model)
    unchanged = os.stat(model)

    model.write_bytes(b"B" * 100)  # same size; the same mtime, put back: a rescan sees the file it hashed
    os.utime(model, ns=(unchanged.st_atime_ns, unchanged.st_mtime_ns))
    assert full_hash(model) == before

    os.utime(model, ns=(unchanged.st_atime_ns, unchanged.st_mtime_ns + 1_000_000_000))  # changed: read again
    assert full_hash(model) == hashlib.sha256(b"B" * 100).hexdigest()


def test_folders_from_the_environment_are_split_like_path():
    value = os.pathsep.join(["/data/webui/models", "", "~/ComfyUI/models", " "]) + os.pathsep

    assert paths_from_env(value) == [Path("/data/webui/models"), Path("~/ComfyUI/models")]
    assert paths_from_env("") == []
