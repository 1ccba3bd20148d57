"""Every picture says it was generated, how, and by Easel; PNG Info reads it back and reproduces it."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from pipelines import provenance
from pipelines.metadata import parse_parameters, read_parameters
from pipelines.request import GenerationRequest
from pipelines.verify import verify
from ui.common import EngineInfo
from ui.png_info import settings_from

SIDE = 256  # the watermark needs at least 256x256 pixels


def generated_png(manager, **fields) -> tuple[bytes, object]:
    result = manager.generate(GenerationRequest(**{"prompt": "a lighthouse", "steps": 2, "seed": 11, "width": SIDE,
                                                   "height": SIDE, **fields}))
    return provenance.png_bytes(result, 0), result


@pytest.fixture(scope="module")
def easel_png(manager):
    return generated_png(manager)[0]


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_a_picture_carries_parameters_record_label_and_watermark(easel_png):
    picture = opened(easel_png)
    parameters = parse_parameters(read_parameters(easel_png))
    assert parameters["prompt"] == "a lighthouse" and parameters["seed"] == 11
    record = json.loads(picture.text[provenance.RECORD_KEY])  # plain JSON that any tool can read
    assert record["schema"] == "easel.generation" and record["schema_version"] == 1
    assert record["model"]["name"] == "tiny-sd15" and record["model"]["family"] == "sd1"
    assert record["scheduler"]["class"] == "DPMSolverMultistepScheduler"
    assert record["scheduler"]["config"]["use_karras_sigmas"] is True
    assert record["parameters"]["seed"] == 11 and record["memory_fallbacks"] == []
    assert record["image_sha256"] == provenance.pixel_sha256(picture.convert("RGB"))
    assert "trainedAlgorithmicMedia" in picture.text[provenance.XMP_KEY]
    report = verify(easel_png)
    assert report.watermark_found and report.pixels_match_record
    assert report.digital_source_type == provenance.GENERATED
    assert report.summary.startswith("Made by Easel")


@pytest.mark.parametrize("file_format", ["jpg", "webp"])
def test_jpeg_and_webp_carry_parameters_where_automatic1111_reads_them_and_record_and_label_in_xmp(manager,
                                                                                                   file_format):
    import piexif
    import piexif.helper

    prompt = 'a "lighthouse" & <the sea> – 灯台'  # quotes, XML's special characters, not Latin-1
    result = manager.generate(GenerationRequest(prompt=prompt, steps=2, seed=12, width=SIDE, height=SIDE))
    data = provenance.picture_bytes(result, 0, file_format)
    picture = opened(data)
    assert picture.format == {"jpg": "JPEG", "webp": "WEBP"}[file_format]
    # AUTOMATIC1111 reads JPEG/WebP parameters from the EXIF UserComment with piexif (read_info_from_image).
    comment = piexif.load(picture.info["exif"])["Exif"][piexif.ExifIFD.UserComment]
    assert piexif.helper.UserComment.load(comment) == result.infotexts[0] == read_parameters(data)
    assert parse_parameters(read_parameters(data))["prompt"] == prompt
    record = provenance.record_of(picture)
    assert record["parameters"]["prompt"] == prompt and record["file_format"] == picture.format.lower()
    assert provenance.source_type_of(picture) == provenance.GENERATED
    assert b"trainedAlgorithmicMedia" in picture.info["xmp"]
    report = verify(data, credentials=manager.credentials)
    assert report.watermark_found and report.record["parameters"]["seed"] == 12
    assert report.content_credentials["state"] == "Trusted"
    assert report.pixels_match_record is None and "cannot be checked against it exactly" in report.summary


def with_text_changed(png: bytes, old: bytes, new: bytes) -> bytes:
    """`png` with `old` replaced by `new` (same length) inside a text chunk, its checksum made right again:
    a file any reader opens, edited after it was written."""
    import struct
    import zlib

    start = png.index(old)
    chunk = png.rindex(b"tEXt", 0, start) - 4
    length = struct.unpack(">I", png[chunk:chunk + 4])[0]
    body = png[chunk + 4:chunk + 8 + length].replace(old, new)
    return png[:chunk + 4] + body + struct.pack(">I", zlib.crc32(body)) + png[chunk + 12 + length:]


def test_every_picture_carries_c2pa_content_credentials_that_any_later_edit_breaks(manager, easel_png, tmp_path):
    from pipelines.content_credentials import ContentCredentials

    report = verify(easel_png, credentials=manager.credentials)
    manifest = report.content_credentials
    assert manifest["state"] == "Trusted" and manifest["problems"] == []  # signed with this studio's key
    assert manifest["digital_source_type"] == provenance.GENERATED and manifest["claim_generator"] == "Easel 0.1.0"
    assert "C2PA Content Credentials signed with this studio's key, saying AI-generated." in report.summary

    elsewhere = verify(easel_png, credentials=ContentCredentials(tmp_path / "another-machine"))
    assert elsewhere.content_credentials["state"] == "Valid"  # a good signature by a key that studio does not know
    assert "a signer this studio does not know" in elsewhere.summary

    edited = with_text_changed(easel_png, b"a lighthouse", b"a lightHouse")
    assert parse_parameters(read_parameters(edited))["prompt"] == "a lightHouse"
    report = verify(edited, credentials=manager.credentials)
    assert report.content_credentials["state"] == "Invalid"
    assert "assertion.dataHash.mismatch" in report.content_credentials["problems"]
    assert "no longer hold" in report.summary


def test_a_picture_is_still_written_when_signing_fails_and_c2pa_can_be_turned_off(manager, make_manager, tmp_path):
    from pipelines.content_credentials import ContentCredentials

    result = manager.generate(GenerationRequest(prompt="a lighthouse", steps=2, seed=14, width=64, height=64))
    (tmp_path / "a-file").write_text("where the key folder should be")
    result.credentials = ContentCredentials(tmp_path / "a-file" / "keys")  # cannot make a key there
    data = provenance.png_bytes(result, 0)
    assert read_parameters(data) == result.infotexts[0] and verify(data).content_credentials is None

    unsigned, _ = generated_png(make_manager(content_credentials=False))
    report = verify(unsigned)
    assert report.content_credentials is None and "No C2PA Content Credentials." in report.summary


def test_reworking_a_users_photo_is_labelled_composite_and_an_easel_picture_stays_generated(manager, easel_png):
    from skimage import data

    photo = Image.fromarray(data.astronaut()).resize((SIDE, SIDE))
    reworked, _ = generated_png(manager, task="img2img", image=photo, strength=0.5)
    record = provenance.record_of(opened(reworked))
    assert record["digital_source_type"] == provenance.COMPOSITE
    assert record["inputs"]["image_sha256"] == provenance.pixel_sha256(photo)
    assert record["parent_image_sha256"] is None

    again, _ = generated_png(manager, task="img2img", image=opened(easel_png), strength=0.5)
    record = provenance.record_of(opened(again))
    assert record["digital_source_type"] == provenance.GENERATED
    assert record["parent_image_sha256"] == provenance.record_of(opened(easel_png))["image_sha256"]


def test_an_edit_after_generation_shows_and_a_plain_photo_has_no_signs(easel_png):
    from skimage import data

    picture = opened(easel_png)
    edited = np.asarray(picture.convert("RGB")).copy()
    edited[:20, :20] = 0
    info = PngInfo()
    for key, value in picture.text.items():
        info.add_itxt(key, value)
    buffer = io.BytesIO()
    Image.fromarray(edited).save(buffer, format="PNG", pnginfo=info)
    report = verify(buffer.getvalue())
    assert report.record is not None and report.pixels_match_record is False
    assert "changed after" in report.summary

    photo = io.BytesIO()
    Image.fromarray(data.coffee()).save(photo, format="PNG")
    report = verify(photo.getvalue())
    assert not report.watermark_found and report.record is None and report.digital_source_type is None
    assert report.summary.startswith("No Easel watermark")


def test_watermark_can_be_turned_off(make_manager):
    data, result = generated_png(make_manager(watermark=False))
    assert not verify(data).watermark_found
    assert result.records[0]["watermark"] is None


def test_png_info_settings_reproduce_the_same_pixels(manager, easel_png):
    info = EngineInfo(models=["tiny-sd15"], default_model="tiny-sd15", samplers=manager.samplers(), control_types=[],
                      default_sampler="Euler", default_size=64, default_steps=2, max_steps=50, max_batch=4, max_side=512)
    values, skipped = settings_from(read_parameters(easel_png), info)
    assert skipped == []
    names = ["prompt", "negative_prompt", "model", "sampler", "steps", "guidance_scale", "width", "height", "seed"]
    again = manager.generate(GenerationRequest(**dict(zip(names, values))))
    assert np.array_equal(np.asarray(again.images[0]), np.asarray(opened(easel_png).convert("RGB")))


def test_png_info_reads_automatic1111_parameters_and_says_what_it_cannot_use(manager):
    text = ("a castle\nNegative prompt: fog\nSteps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, "
            "Seed: 123, Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.10.1")
    info = EngineInfo(models=["tiny-sd15"], default_model="tiny-sd15", samplers=manager.samplers(), control_types=[],
                      default_sampler="Euler", default_size=64, default_steps=2, max_steps=50, max_batch=4, max_side=512)
    values, skipped = settings_from(text, info)
    assert values[:2] == ["a castle", "fog"] and values[3] == "DPM++ 2M Karras"
    assert values[4:9] == [30, 6.5, 512, 768, 123]
    assert skipped == ["model 'v1-5-pruned-emaonly' (not in this library: the current model stays)"]


def test_png_info_and_verify_through_the_app(client, easel_png, tmp_path):
    path = tmp_path / "easel.png"
    path.write_bytes(easel_png)
    parameters, record = client.predict(handle_file(str(path)), api_name="/png_info")
    assert parameters.startswith("a lighthouse") and record["parameters"]["seed"] == 11
    summary, details = client.predict(handle_file(str(path)), api_name="/verify")
    assert "Made by Easel" in summary and details["pixels_match_record"] is True

    a1111 = tmp_path / "a1111.png"
    info = PngInfo()
    info.add_text("parameters", "a castle\nSteps: 30, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 64x64")
    Image.new("RGB", (64, 64), "gray").save(a1111, pnginfo=info)
    parameters, record = client.predict(handle_file(str(a1111)), api_name="/png_info")
    assert parameters.startswith("a castle") and record is None
    summary, details = client.predict(handle_file(str(a1111)), api_name="/verify")
    assert summary.startswith("No Easel watermark") and details["parameters"].startswith("a castle")


def test_png_info_and_verify_read_jpegs_through_the_app(client, manager, tmp_path):
    import piexif
    import piexif.helper

    a1111 = tmp_path / "a1111.jpg"  # as A1111 saves a JPEG: parameters in the EXIF UserComment, by piexif
    comment = piexif.helper.UserComment.dump("a castle\nSteps: 30, Sampler: Euler a, Seed: 5, Size: 64x64",
                                             encoding="unicode")
    Image.new("RGB", (64, 64), "gray").save(a1111, exif=piexif.dump({"Exif": {piexif.ExifIFD.UserComment: comment}}))
    parameters, record = client.predict(handle_file(str(a1111)), api_name="/png_info")
    assert parameters.startswith("a castle\nSteps: 30") and record is None

    result = manager.generate(GenerationRequest(prompt="a lighthouse", steps=2, seed=13, width=SIDE, height=SIDE))
    easel = tmp_path / "easel.jpg"
    easel.write_bytes(provenance.picture_bytes(result, 0, "jpg"))
    parameters, record = client.predict(handle_file(str(easel)), api_name="/png_info")
    assert parameters == result.infotexts[0] and record["parameters"]["seed"] == 13
    summary, details = client.predict(handle_file(str(easel)), api_name="/verify")
    assert summary.startswith("Made by Easel") and "Labelled as AI-generated" in summary
    assert details["pixels_match_record"] is None


def copy_chunks(source_png: bytes, pixels: Image.Image, **replaced) -> bytes:
    """`pixels` saved as PNG with the text chunks of `source_png` (some replaced): what an editor that keeps
    metadata, or a forger, would write."""
    info = PngInfo()
    for key, value in {**opened(source_png).text, **replaced}.items():
        info.add_itxt(key, value)
    buffer = io.BytesIO()
    pixels.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def test_a_record_copied_onto_a_photo_does_not_make_it_easels(manager, easel_png):
    from skimage import data

    photo = Image.fromarray(data.astronaut()).resize((SIDE, SIDE))
    forged = opened(copy_chunks(easel_png, photo))
    reworked, _ = generated_png(manager, task="img2img", image=forged, strength=0.5)
    record = provenance.record_of(opened(reworked))
    assert record["digital_source_type"] == provenance.COMPOSITE and record["parent_image_sha256"] is None


def test_verify_survives_a_crafted_record_and_quotes_what_a_file_says(easel_png):
    record = json.loads(opened(easel_png).text[provenance.RECORD_KEY])
    broken = copy_chunks(easel_png, opened(easel_png).convert("RGB"),
                         easel=json.dumps({**record, "model": "a string, not an object"}))
    report = verify(broken)
    assert report.record is None and report.watermark_found  # an unreadable record is no record
    sneaky = copy_chunks(easel_png, opened(easel_png).convert("RGB"), easel=json.dumps(
        {**record, "model": {"name": "x\n\nthe pixels are the ones it was written for. [link](http://a)"}}))
    summary = verify(sneaky).summary
    assert "`x the pixels are the ones it was written for. [link](http://a)`" in summary
    assert summary.count("\n") == 4  # five lines: no line added by the file
