"""The detailer as ADetailer users know it: faces found and redrawn larger on the same weights, the rest of the
picture untouched, ADetailer's names in the parameters, a note (not an error) when there is no face, and bad
fields refused by name."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipelines import detailer
from pipelines.errors import InvalidRequest
from pipelines.metadata import parse_parameters
from pipelines.request import Detailer, DetailerUnit, GenerationRequest


@pytest.fixture(scope="module")
def engine(tiny_dir):
    from pipelines.catalog import Library
    from pipelines.engine_settings import EngineSettings
    from pipelines.manager import PipelineManager

    library = Library.from_file(tiny_dir / "models.yaml")
    return PipelineManager(library, EngineSettings(device="cpu", watermark=False, content_credentials=False))


@pytest.fixture(scope="module")
def face():
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((256, 256))


FACE_BOX = (88, 41, 132, 84)  # where dlib finds the astronaut's face at 256 pixels


def details(face, *units, **fields) -> GenerationRequest:
    return GenerationRequest(task="img2img", prompt="a portrait", steps=4, seed=3, image=face,
                             detailer=Detailer(units=list(units) or [DetailerUnit()], skip_img2img=True), **fields)


def test_the_masks_are_found_filtered_and_shaped_in_adetailer_s_order(face):
    [mask] = detailer.find_masks(face, DetailerUnit(dilate_erode=0))
    assert mask.getbbox() == FACE_BOX
    [grown] = detailer.find_masks(face, DetailerUnit(dilate_erode=8, x_offset=10, y_offset=5))
    assert grown.getbbox() == (88 - 4 + 10, 41 - 4 - 5, 132 + 4 + 10, 84 + 4 - 5)  # right 10, up 5
    assert detailer.find_masks(face, DetailerUnit(mask_max_ratio=0.01)) == []  # the face is 3% of the picture
    assert detailer.find_masks(face, DetailerUnit(confidence=1.0)) == []  # surer than dlib is of this face
    assert len(detailer.find_masks(face, DetailerUnit(confidence=0.0))) > 1  # and less sure: shapes in the suit
    [inverted] = detailer.find_masks(face, DetailerUnit(dilate_erode=0, mask_merge_invert="Merge and Invert"))
    assert inverted.getpixel((10, 10)) == 255 and inverted.getpixel((110, 60)) == 0


def test_each_face_is_redrawn_and_the_rest_of_the_picture_is_kept(engine, face):
    result = engine.generate(details(face, DetailerUnit(model="face_yolov8n.pt", denoising_strength=0.5)))
    made, original = np.asarray(result.images[0]).astype(int), np.asarray(face).astype(int)
    changed = np.abs(made - original).max(axis=2) > 2
    left, top, right, bottom = FACE_BOX
    assert changed[top:bottom, left:right].mean() > 0.5  # the face is redrawn
    far = np.ones_like(changed)
    far[top - 20:bottom + 20, left - 20:right + 20] = False  # beyond the mask's growth and blur
    assert not changed[far].any()
    assert "ad_model: Easel finds faces with face_dlib instead of face_yolov8n.pt" in result.warnings
    settings = parse_parameters(result.infotexts[0])["settings"]
    assert (settings["ADetailer model"], settings["ADetailer denoising strength"],
            settings["ADetailer inpaint only masked"], settings["ADetailer inpaint padding"]) == \
        ("face_dlib", "0.5", "True", "32")
    assert "detailer" in result.timings


def test_a_picture_with_no_face_is_kept_as_made_with_a_note(engine):
    plain = GenerationRequest(prompt="a lighthouse", steps=4, seed=9, width=64, height=64)
    made = engine.generate(plain).images[0]
    detailed = engine.generate(GenerationRequest(prompt="a lighthouse", steps=4, seed=9, width=64, height=64,
                                                 detailer=Detailer()))
    assert np.array_equal(np.asarray(detailed.images[0]), np.asarray(made))
    assert "ad_model: no face found in picture 1; it is kept as made" in detailed.warnings


def test_a_second_unit_and_separate_settings_are_written_with_adetailer_s_names(engine, face):
    result = engine.generate(details(face, DetailerUnit(), DetailerUnit(prompt="blue eyes", steps=8,
                                                                        inpaint_width=128, inpaint_height=128)))
    settings = parse_parameters(result.infotexts[0])["settings"]
    assert settings["ADetailer prompt 2nd"] == "blue eyes"
    assert (settings["ADetailer use separate steps 2nd"], settings["ADetailer steps 2nd"]) == ("True", "8")
    assert settings["ADetailer inpaint width 2nd"] == "128" and "ADetailer prompt" not in settings


def test_sep_gives_each_find_its_prompt_and_prompt_stands_for_the_picture_s():
    unit = DetailerUnit(prompt="[PROMPT], smiling [SEP] frowning")
    prompts, negative = detailer.unit_prompts(unit, GenerationRequest(), ("a portrait", "blurry"), 0, [])
    assert prompts == ["a portrait, smiling", "frowning"] and negative == "blurry"


@pytest.mark.parametrize("unit, field, words", [
    (DetailerUnit(confidence=2), "ad_confidence", "from 0 to 1"),
    (DetailerUnit(model="hand_yolov8n.pt"), "ad_model", "no detector for hand_yolov8n.pt"),
    (DetailerUnit(model="eyes"), "ad_model", "choose one of"),
    (DetailerUnit(mask_min_ratio=0.5, mask_max_ratio=0.2), "ad_mask_min_ratio", "above the max ratio"),
    (DetailerUnit(inpaint_width=100, inpaint_height=100), "ad_inpaint_width", "multiple of 8"),
    (DetailerUnit(denoising_strength=0.1), "ad_denoising_strength", "leaves no step"),
    (DetailerUnit(mask_merge_invert="Sometimes"), "ad_mask_merge_invert", "choose one of"),
])
def test_bad_fields_are_refused_by_name(engine, face, unit, field, words):
    with pytest.raises(InvalidRequest) as refused:
        engine.generate(details(face, unit))
    assert refused.value.field == field and words in str(refused.value)


def test_the_second_unit_s_fields_are_named_with_its_place_and_the_detailer_is_not_for_inpaint(engine, face):
    with pytest.raises(InvalidRequest) as refused:
        engine.generate(details(face, DetailerUnit(), DetailerUnit(mask_blur=-1)))
    assert refused.value.field == "detailer[1].ad_mask_blur"
    with pytest.raises(InvalidRequest) as refused:
        engine.generate(GenerationRequest(task="inpaint", image=face, mask=face.convert("L"), detailer=Detailer()))
    assert refused.value.field == "adetailer"
    assert engine.generate(details(face)).images[0].size == (256, 256)  # and the engine keeps serving


def test_png_info_fills_the_faces_panel_from_a_picture_s_parameters(engine, face):
    from ui.detailer import FIELDS, RESTORE_FIELD, SKIP_FIELD, DetailerPanel, values_from

    panel = DetailerPanel({name: None for name in (*FIELDS, SKIP_FIELD, RESTORE_FIELD)})
    text = engine.generate(details(face, DetailerUnit(prompt="freckles", denoising_strength=0.5),
                                   DetailerUnit())).infotexts[0]
    skipped: list[str] = []
    values = dict(zip(panel.widgets, values_from(text + ", Face restoration: CodeFormer", panel, ["GFPGAN"], skipped)))
    assert (values["adetailer"], values["ad_model"], values["ad_prompt"], values["ad_denoising_strength"],
            values["ad_inpaint_only_masked"], values[RESTORE_FIELD]) == (True, "face_dlib", "freckles", 0.5, True, "None")
    assert any("second unit" in note for note in skipped) and any("CodeFormer" in note for note in skipped)
    off = dict(zip(panel.widgets, values_from("a cat\nSteps: 4, Seed: 1, Size: 64x64", panel, ["GFPGAN"], [])))
    assert off["adetailer"] is False and off[RESTORE_FIELD] == "None"
