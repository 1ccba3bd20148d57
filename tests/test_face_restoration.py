"""Extras beyond upscaling: face restoration with GFPGAN and CodeFormer (faces found, redrawn, pasted back),
quick filters, and the result's parameters and record, as A1111's extras write them."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import skimage.data
from PIL import Image

from pipelines import face_restoration, filters
from pipelines.errors import InvalidRequest
from pipelines.metadata import parse_parameters
from pipelines.model_folders import FoundFile, restorer_files
from pipelines.provenance import ENHANCED, GENERATED, png_bytes
from pipelines.request import ExtrasRequest, GenerationRequest
from pipelines.tiny import tiny_extras_dir


@pytest.fixture(scope="module")
def face():
    return Image.fromarray(skimage.data.astronaut()).resize((256, 256))


@pytest.fixture(scope="module")
def codeformer_dir(tmp_path_factory):
    models = tmp_path_factory.mktemp("codeformer-models")
    face_restoration.write_random_codeformer(models / "Codeformer" / "codeformer-v0.1.0.pth")
    return models


@pytest.fixture(scope="module")
def extras_manager(tiny_dir, codeformer_dir):
    from pipelines.catalog import Library
    from pipelines.engine_settings import EngineSettings
    from pipelines.manager import PipelineManager

    library = Library.from_file(tiny_dir / "models.yaml")
    library.add_folders([tiny_extras_dir(tiny_dir / "models.yaml"), codeformer_dir])
    return PipelineManager(library, EngineSettings(device="cpu", watermark=False, content_credentials=False))


def changed(a: Image.Image, b: Image.Image) -> np.ndarray:
    return np.abs(np.asarray(a.convert("RGB"), np.int16) - np.asarray(b.convert("RGB"), np.int16)).max(axis=2)


def test_the_detector_finds_the_face_and_none_in_noise(face):
    [(left, top, right, bottom)] = face_restoration.find_faces(face)
    assert 70 < (left + right) / 2 < 150 and 30 < (top + bottom) / 2 < 100  # the astronaut's face, top middle
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8))
    assert face_restoration.find_faces(noise) == []


def test_gfpgan_redraws_the_face_only_the_same_way_twice(extras_manager, face):
    restored = extras_manager.postprocess(ExtrasRequest(image=face, upscaler="None", gfpgan_visibility=1))
    difference = changed(restored.images[0], face)
    [(left, top, right, bottom)] = face_restoration.find_faces(face)
    assert difference[top:bottom, left:right].mean() > 20  # random weights: the face is redrawn as noise
    assert difference[200:, :].max() == 0 and difference[:, 220:].max() == 0  # the rest is untouched
    assert restored.infotexts[0] == "GFPGAN visibility: 1" and restored.warnings == []
    again = extras_manager.postprocess(ExtrasRequest(image=face, upscaler="None", gfpgan_visibility=1))
    assert again.images[0].tobytes() == restored.images[0].tobytes()  # GFPGAN's noise is seeded
    half = extras_manager.postprocess(ExtrasRequest(image=face, upscaler="None", gfpgan_visibility=0.5))
    assert 0 < changed(half.images[0], face).max() < difference.max()  # blended with the original
    assert any(row["model"].startswith("face-restorer:") and row["model"].endswith("GFPGANv1.4.pth")
               for row in extras_manager.status()["components"])


def test_codeformer_weight_changes_how_much_of_the_face_is_redrawn(extras_manager, face):
    def restore(weight):
        return extras_manager.postprocess(ExtrasRequest(image=face, upscaler="None", codeformer_visibility=1,
                                                        codeformer_weight=weight))
    strongest, weakest = restore(0.0), restore(1.0)
    assert strongest.images[0].tobytes() != weakest.images[0].tobytes()
    settings = parse_parameters("x\n" + strongest.infotexts[0] + ", Steps: 1")["settings"]
    assert (settings["CodeFormer visibility"], settings["CodeFormer weight"]) == ("1", "0")


def test_no_face_is_a_note_and_the_picture_is_kept(extras_manager):
    noise = Image.fromarray(np.random.default_rng(1).integers(0, 255, (128, 128, 3), dtype=np.uint8))
    result = extras_manager.postprocess(ExtrasRequest(image=noise, upscaler="None", gfpgan_visibility=1))
    assert result.images[0].tobytes() == noise.tobytes()
    assert result.warnings == ["GFPGAN: no face found in the picture, so it was left as it was"]
    assert "GFPGAN" not in result.infotexts[0]


def test_a_missing_restorer_or_package_is_named(tiny_dir, face, monkeypatch):
    from pipelines.catalog import Library
    from pipelines.engine_settings import EngineSettings
    from pipelines.manager import PipelineManager

    library = Library.from_file(tiny_dir / "models.yaml")
    library.add_folders([tiny_extras_dir(tiny_dir / "models.yaml")])
    manager = PipelineManager(library, EngineSettings(device="cpu", watermark=False, content_credentials=False))
    assert manager.face_restorers() == ["GFPGAN"]
    with pytest.raises(InvalidRequest, match="needs a CodeFormer model file.*models/Codeformer/") as error:
        manager.postprocess(ExtrasRequest(image=face, codeformer_visibility=0.5))
    assert error.value.field == "codeformer_visibility"
    for asked, field in (({"gfpgan_visibility": 2}, "gfpgan_visibility"), ({"codeformer_weight": -1}, "codeformer_weight"),
                         ({"upscaler_2": "Lanczos", "upscaler_2_visibility": 3}, "extras_upscaler_2_visibility"),
                         ({"resize_to": (100_000, 10)}, "upscaling_resize_w")):
        with pytest.raises(InvalidRequest) as error:
            manager.postprocess(ExtrasRequest(image=face, **asked))
        assert error.value.field == field
    monkeypatch.setitem(sys.modules, "spandrel_extra_arches", None)  # as if it were not installed
    monkeypatch.setattr(face_restoration, "_installed_extra_arches", False)
    with pytest.raises(face_restoration.upscalers.UpscalerError, match="pip install spandrel_extra_arches"):
        face_restoration.read("CodeFormer", tiny_dir / "nothing.pth")


def test_restorer_files_are_known_by_their_name_or_folder(tmp_path):
    def found(path):
        return FoundFile(name=path.split("/")[-1].rsplit(".", 1)[0], path=tmp_path / path, kind="face_restorer", size=1)

    files = {f.name: f for f in map(found, ["facerestore_models/GFPGANv1.3.pth", "facerestore_models/GFPGANv1.4.pth",
                                            "facerestore_models/codeformer-v0.1.0.pth", "facerestore_models/other.pth"])}
    chosen = restorer_files(files)
    assert {name: file.name for name, file in chosen.items()} == {"GFPGAN": "GFPGANv1.4", "CodeFormer": "codeformer-v0.1.0"}
    assert restorer_files({"model": found("Codeformer/model.pth")})["CodeFormer"].name == "model"


def test_filters_are_seeded_neutral_when_unset_and_checked(extras_manager, face):
    assert filters.apply(face, filters.Filters()).tobytes() == face.tobytes()
    chosen = filters.Filters(brightness=1.3, grain=0.3)
    once, twice = filters.apply(face, chosen), filters.apply(face, chosen)
    assert once.tobytes() == twice.tobytes() and np.asarray(once).mean() > np.asarray(face).mean()
    result = extras_manager.postprocess(ExtrasRequest(image=face, upscaler="None", filters={"saturation": 0}))
    assert np.ptp(np.asarray(result.images[0], np.int16), axis=2).max() <= 1  # no colour left
    assert result.infotexts[0] == "Filters: saturation 0"
    with pytest.raises(InvalidRequest, match="from 0 to 2") as error:
        extras_manager.postprocess(ExtrasRequest(image=face, filters={"brightness": 5}))
    assert error.value.field == "brightness"
    with pytest.raises(InvalidRequest, match="no filter 'blur'") as error:
        extras_manager.postprocess(ExtrasRequest(image=face, filters={"blur": 1}))
    assert error.value.field == "filters"


def test_the_chain_keeps_the_parameters_and_the_record_names_the_parent(extras_manager, face):
    made = extras_manager.generate(GenerationRequest(prompt="a harbour", steps=1, seed=21))
    result = extras_manager.postprocess(ExtrasRequest(image=png_bytes(made, 0), upscaler="Lanczos", resize_to=(160, 96),
                                                      filters={"contrast": 1.2}))
    assert result.images[0].size == (160, 96)
    settings = parse_parameters(result.infotexts[0])["settings"]
    assert settings["Seed"] == "21" and settings["Postprocess upscale to"] == "160x96"
    assert (settings["Postprocess crop to"], settings["Filters"]) == ("160x96", "contrast 1.2")
    record = result.records[0]
    assert record["parent_image_sha256"] == made.records[0]["image_sha256"]
    assert record["digital_source_type"] == GENERATED and record["parameters"]["seed"] == 21
    assert record["postprocess"]["done"]["Postprocess upscaler"] == "Lanczos"
    photo = extras_manager.postprocess(ExtrasRequest(image=face, upscaler="tiny-esrgan", scale=2))
    assert photo.records[0]["digital_source_type"] == ENHANCED and photo.records[0]["parent_image_sha256"] is None
    assert set(photo.records[0]["postprocess"]["models"]) == {"tiny-esrgan"}  # the file that did it, by sha256


def test_restore_faces_after_a_generation_writes_a1111_s_face_restoration(extras_manager, face):
    from pipelines.request import Detailer, DetailerUnit

    # the starting picture kept as it is (a detailer with nothing to find, after "skip img2img"), so that
    # the faces restored are real ones: the tiny model would draw noise
    kept = Detailer(units=[DetailerUnit(mask_max_ratio=0.0001)], skip_img2img=True)
    result = extras_manager.generate(GenerationRequest(task="img2img", prompt="a portrait", steps=4, image=face,
                                                       restore_faces="GFPGAN", detailer=kept))
    assert (changed(result.images[0], face)[41:84, 88:132] > 8).mean() > 0.5  # the face, redrawn
    assert parse_parameters(result.infotexts[0])["settings"]["Face restoration"] == "GFPGAN"
    with pytest.raises(InvalidRequest) as refused:
        extras_manager.generate(GenerationRequest(prompt="a", steps=1, restore_faces="RestoreFormer"))
    assert refused.value.field == "restore_faces"
