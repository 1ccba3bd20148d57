"""Generation parameters survive being written into images and read back,
and files made by AUTOMATIC1111 are understood."""

import io
import struct

import pytest
from hypothesis import given, settings as hsettings, strategies as st
from PIL import Image

from pipelines.metadata import (
    PARAMETERS_KEY,
    format_parameters,
    parse_parameters,
    png_text_chunks,
    read_parameters,
    save_png,
)

# --------------------------------------------------------------------------- helpers


def small_image(mode="RGB"):
    return Image.new(mode, (8, 8), "teal")


def encoded(image, fmt, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def a1111_exif(user_comment: bytes) -> bytes:
    """An EXIF block laid out as A1111 writes it with piexif.dump(): a big-endian
    TIFF whose IFD0 only points to the Exif IFD, which only holds UserComment.
    Built by hand so the test does not depend on Pillow's own EXIF writer."""
    entry = ">HHII"  # tag, type, count, value/offset
    exif_ifd_at = 8 + 18  # after the TIFF header and the one-entry IFD0
    comment_at = exif_ifd_at + 18
    tiff = (
        b"MM\x00\x2a" + struct.pack(">I", 8)
        + struct.pack(">H", 1) + struct.pack(entry, 0x8769, 4, 1, exif_ifd_at) + struct.pack(">I", 0)
        + struct.pack(">H", 1) + struct.pack(entry, 0x9286, 7, len(user_comment), comment_at)
        + struct.pack(">I", 0)
        + user_comment
    )
    return b"Exif\x00\x00" + tiff


def a1111_normalised(text: str) -> str:
    """What A1111's parser gives back for a prompt: each line stripped, leading
    blank lines dropped."""
    return "\n".join(line.strip() for line in text.split("\n")).lstrip("\n")


# --------------------------------------------------------------------------- writing and parsing text


def test_txt2img_settings_are_written_as_a1111_does_and_read_back():
    p = {
        "prompt": "a cozy cabin in the woods, (autumn:1.2)",
        "negative_prompt": "lowres, blurry",
        "settings": {
            "Steps": 20, "Sampler": "DPM++ 2M", "Schedule type": "Karras", "CFG scale": 7.0,
            "Seed": 1234, "Size": "512x768", "Model hash": "abcdef1234", "Model": "sd15",
            "Clip skip": None,
        },
    }
    text = format_parameters(p)
    assert text == (
        "a cozy cabin in the woods, (autumn:1.2)\n"
        "Negative prompt: lowres, blurry\n"
        "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, "
        "Size: 512x768, Model hash: abcdef1234, Model: sd15"
    )

    parsed = parse_parameters(text)
    assert parsed["prompt"] == p["prompt"]
    assert parsed["negative_prompt"] == p["negative_prompt"]
    assert parsed["settings"]["Schedule type"] == "Karras"
    assert "Clip skip" not in parsed["settings"]
    assert (parsed["steps"], parsed["sampler"], parsed["cfg_scale"], parsed["seed"]) == (20, "DPM++ 2M", 7.0, 1234)
    assert (parsed["width"], parsed["height"]) == (512, 768)
    assert "denoising_strength" not in parsed


def test_img2img_without_negative_prompt_omits_that_line():
    p = {
        "prompt": "a watercolor fox",
        "negative_prompt": "",
        "settings": {"Steps": 30, "Sampler": "Euler a", "CFG scale": 6.5, "Seed": -1,
                     "Size": "768x512", "Denoising strength": 0.75},
    }
    text = format_parameters(p)
    assert text == ("a watercolor fox\n"
                    "Steps: 30, Sampler: Euler a, CFG scale: 6.5, Seed: -1, Size: 768x512, Denoising strength: 0.75")

    parsed = parse_parameters(text)
    assert parsed["negative_prompt"] == ""
    assert parsed["denoising_strength"] == 0.75
    assert parsed["cfg_scale"] == 6.5
    assert parsed["seed"] == -1


def test_controlnet_and_lora_values_with_commas_and_colons_are_quoted_and_unquoted():
    controlnet = "Module: canny, Model: control_v11p_sd15_canny [d14c016b], Weight: 1.0, Guidance End: 1"
    p = {
        "prompt": "a house",
        "settings": {"Steps": 20, "Sampler": "Euler", "Seed": 1, "ControlNet 0": controlnet,
                     "Lora hashes": "a: 123, b: 456", "Comment": 'she said "hi"'},
    }
    text = format_parameters(p)
    assert ('ControlNet 0: "Module: canny, Model: control_v11p_sd15_canny [d14c016b], '
            'Weight: 1.0, Guidance End: 1"') in text
    assert 'Lora hashes: "a: 123, b: 456"' in text

    settings = parse_parameters(text)["settings"]
    assert settings["ControlNet 0"] == controlnet
    assert settings["Lora hashes"] == "a: 123, b: 456"
    assert settings["Comment"] == 'she said "hi"'


def test_a_multi_line_prompt_round_trips():
    p = {"prompt": "line one,\nline two\n\nline four", "negative_prompt": "bad\nworse",
         "settings": {"Steps": 5, "Sampler": "Euler", "Seed": 3}}
    parsed = parse_parameters(format_parameters(p))
    assert parsed["prompt"] == p["prompt"]
    assert parsed["negative_prompt"] == p["negative_prompt"]


def test_a_setting_name_that_could_not_be_read_back_is_refused():
    with pytest.raises(ValueError, match="cannot be read back"):
        format_parameters({"prompt": "x", "settings": {"Steps": 1, "X": 2}})
    with pytest.raises(ValueError):
        format_parameters({"prompt": "x", "settings": {"Hires: steps": 2}})


def test_text_without_a_settings_line_is_all_prompt():
    # Like A1111, a last line with fewer than 3 "key: value" pairs is still prompt.
    parsed = parse_parameters("portrait\nstyle: anime, mood: calm")
    assert parsed == {"prompt": "portrait\nstyle: anime, mood: calm", "negative_prompt": "", "settings": {}}


def test_malformed_typed_values_are_kept_raw_instead_of_failing():
    parsed = parse_parameters("cat\nSteps: many, Seed: 12abc, Size: big, CFG scale: 7")
    assert parsed["settings"]["Steps"] == "many"
    assert "steps" not in parsed and "seed" not in parsed and "width" not in parsed
    assert parsed["cfg_scale"] == 7.0


# --------------------------------------------------------------------------- infotexts written by A1111

A1111_DOCSTRING_EXAMPLE = """\
girl with an artist's beret, determined, blue eyes, desert scene, computer monitors, heavy makeup, by Alphonse Mucha and Charlie Bowater, ((eyeshadow)), (coquettish), detailed, intricate
Negative prompt: ugly, fat, obese, chubby, (((deformed))), [blurry], bad anatomy, disfigured, poorly drawn face, mutation, mutated, (extra_limb), (ugly), (poorly drawn hands), messy drawing
Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, Model hash: 45dee52b"""

A1111_HIRES_LORA = """\
masterpiece, best quality, 1girl, solo, red hair, looking at viewer, <lora:add_detail:0.6>, <lora:epiNoiseoffset_v2:0.4>
Negative prompt: (worst quality, low quality:1.4), easynegative, watermark
Steps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3052321447, Size: 512x768, Model hash: 7f96a1a9ca, Model: anything-v5, Denoising strength: 0.45, Clip skip: 2, Hires upscale: 2, Hires steps: 15, Hires upscaler: R-ESRGAN 4x+ Anime6B, Lora hashes: "add_detail: 7c6bad76eb54, epiNoiseoffset_v2: d1131f7207d6", TI hashes: "easynegative: c74b4e810b03", Version: v1.9.4"""

A1111_INPAINT = """\
a red fox sitting in the snow, (detailed fur:1.2)
Negative prompt: blurry
Steps: 30, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 42, Size: 768x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.75, Mask blur: 4, Inpaint area: Only masked, Masked area padding: 32, Version: v1.10.1"""

A1111_CONTROLNET_MULTILINE = """\
a cozy cabin in the woods,
autumn leaves, golden hour
Negative prompt: lowres, bad anatomy
Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234567890, Size: 512x512, Model hash: c0d1994c73, Model: realisticVisionV51_v51VAE, ControlNet 0: "Module: canny, Model: control_v11p_sd15_canny [d14c016b], Weight: 1, Resize Mode: Crop and Resize, Low Vram: False, Processor Res: 512, Threshold A: 100, Threshold B: 200, Guidance Start: 0, Guidance End: 1, Pixel Perfect: False, Control Mode: Balanced", Version: v1.6.0"""


def test_reads_the_example_from_a1111s_own_docstring():
    parsed = parse_parameters(A1111_DOCSTRING_EXAMPLE)
    assert parsed["prompt"].startswith("girl with an artist's beret")
    assert parsed["negative_prompt"].endswith("messy drawing")
    assert (parsed["steps"], parsed["sampler"], parsed["cfg_scale"], parsed["seed"]) == (20, "Euler a", 7.0, 965400086)
    assert parsed["settings"]["Model hash"] == "45dee52b"


def test_reads_a1111_txt2img_with_hires_fix_and_lora_hashes():
    parsed = parse_parameters(A1111_HIRES_LORA)
    s = parsed["settings"]
    assert parsed["prompt"].endswith("<lora:epiNoiseoffset_v2:0.4>")
    assert parsed["negative_prompt"] == "(worst quality, low quality:1.4), easynegative, watermark"
    assert s["Schedule type"] == "Karras"
    assert s["Hires upscale"] == "2" and s["Hires upscaler"] == "R-ESRGAN 4x+ Anime6B"
    assert s["Lora hashes"] == "add_detail: 7c6bad76eb54, epiNoiseoffset_v2: d1131f7207d6"
    assert s["TI hashes"] == "easynegative: c74b4e810b03"
    assert s["Version"] == "v1.9.4"
    assert parsed["seed"] == 3052321447 and parsed["denoising_strength"] == 0.45
    assert (parsed["width"], parsed["height"]) == (512, 768)


def test_reads_a1111_inpainting():
    parsed = parse_parameters(A1111_INPAINT)
    assert parsed["prompt"] == "a red fox sitting in the snow, (detailed fur:1.2)"
    assert parsed["settings"]["Inpaint area"] == "Only masked"
    assert parsed["settings"]["Masked area padding"] == "32"
    assert parsed["denoising_strength"] == 0.75


def test_reads_a1111_controlnet_with_a_multi_line_prompt():
    parsed = parse_parameters(A1111_CONTROLNET_MULTILINE)
    assert parsed["prompt"] == "a cozy cabin in the woods,\nautumn leaves, golden hour"
    assert parsed["settings"]["ControlNet 0"].startswith("Module: canny, Model: control_v11p_sd15_canny [d14c016b], ")
    assert parsed["settings"]["ControlNet 0"].endswith("Control Mode: Balanced")
    assert parsed["settings"]["Version"] == "v1.6.0"
    assert parsed["sampler"] == "DPM++ 2M Karras"


@pytest.mark.parametrize("infotext", [A1111_DOCSTRING_EXAMPLE, A1111_HIRES_LORA, A1111_INPAINT,
                                      A1111_CONTROLNET_MULTILINE])
def test_rewriting_a_parsed_a1111_infotext_gives_it_back_byte_for_byte(infotext):
    assert format_parameters(parse_parameters(infotext)) == infotext


# --------------------------------------------------------------------------- images

UNICODE_MULTILINE = format_parameters({
    "prompt": "猫の肖像画 🐱🎨, ﾟ･✿ sparkles\nsecond line — «quoted» \"text\"",
    "negative_prompt": "低品質, 😡",
    "settings": {"Steps": 20, "Sampler": "Euler a", "CFG scale": 7, "Seed": 1, "Size": "8x8"},
})


def test_png_file_keeps_a_unicode_multi_line_infotext_exactly(tmp_path):
    path = tmp_path / "out.png"
    save_png(small_image(), path, UNICODE_MULTILINE, extra={"Software": "Easel"})

    assert read_parameters(path) == UNICODE_MULTILINE
    assert read_parameters(str(path)) == UNICODE_MULTILINE
    with open(path, "rb") as f:
        assert read_parameters(f) == UNICODE_MULTILINE
    with Image.open(path) as im:
        assert im.text["Software"] == "Easel"
        assert read_parameters(im) == UNICODE_MULTILINE
    assert parse_parameters(read_parameters(path))["prompt"].startswith("猫の肖像画 🐱🎨")


def test_png_in_memory_keeps_the_infotext_exactly():
    buf = io.BytesIO()
    save_png(small_image("RGBA"), buf, A1111_CONTROLNET_MULTILINE)
    assert read_parameters(buf.getvalue()) == A1111_CONTROLNET_MULTILINE
    buf.seek(0)
    assert read_parameters(buf) == A1111_CONTROLNET_MULTILINE


def test_latin1_text_goes_in_a_plain_text_chunk_like_a1111_and_unicode_in_itxt():
    assert b"tEXtparameters\x00" in encoded(small_image(), "PNG", pnginfo=png_text_chunks("café, Steps: 1"))
    assert b"iTXtparameters\x00" in encoded(small_image(), "PNG", pnginfo=png_text_chunks("🐱"))


def test_parameters_cannot_also_be_passed_as_an_extra_chunk():
    with pytest.raises(ValueError):
        png_text_chunks("a", extra={PARAMETERS_KEY: "b"})


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_an_image_without_metadata_gives_none(fmt):
    image = small_image("P" if fmt == "GIF" else "RGB")
    assert read_parameters(encoded(image, fmt)) is None


def test_an_in_memory_image_without_metadata_gives_none():
    assert read_parameters(small_image()) is None


@pytest.mark.parametrize("junk", [b"", b"hello, not an image", b"\x89PNG\r\n\x1a\n broken"])
def test_bytes_that_are_not_an_image_raise_a_clear_value_error(junk):
    with pytest.raises(ValueError, match="not a recognised image"):
        read_parameters(junk)


def test_jpeg_from_a1111_with_a_unicode_exif_user_comment_is_read():
    exif = a1111_exif(b"UNICODE\x00" + UNICODE_MULTILINE.encode("utf-16-be"))
    assert read_parameters(encoded(small_image(), "JPEG", exif=exif)) == UNICODE_MULTILINE


def test_webp_with_an_ascii_exif_user_comment_is_read():
    exif = a1111_exif(b"ASCII\x00\x00\x00" + A1111_INPAINT.encode("ascii"))
    assert read_parameters(encoded(small_image(), "WEBP", exif=exif)) == A1111_INPAINT


def test_exif_user_comment_without_parameters_gives_none():
    exif = a1111_exif(b"UNICODE\x00")
    assert read_parameters(encoded(small_image(), "JPEG", exif=exif)) is None


# --------------------------------------------------------------------------- properties

setting_names = st.from_regex(r"\w[\w \-/]+", fullmatch=True)
prompts = st.text().filter(lambda s: "Negative prompt:" not in s)


@hsettings(max_examples=300, deadline=None)
@given(prompt=prompts, negative=prompts,
       settings=st.dictionaries(setting_names, st.text(), min_size=3, max_size=6))
def test_any_prompt_and_setting_values_survive_format_then_parse(prompt, negative, settings):
    parsed = parse_parameters(format_parameters(
        {"prompt": prompt, "negative_prompt": negative, "settings": settings}))
    # Whitespace around each prompt line is not kept, exactly as in A1111.
    assert parsed["prompt"] == a1111_normalised(prompt)
    assert parsed["negative_prompt"] == a1111_normalised(negative)
    assert parsed["settings"] == settings


@given(cfg=st.floats(allow_nan=False, allow_infinity=False), seed=st.integers())
def test_numbers_survive_format_then_parse(cfg, seed):
    text = format_parameters({"prompt": "p", "settings": {"Steps": 1, "CFG scale": cfg, "Seed": seed}})
    parsed = parse_parameters(text)
    assert parsed["cfg_scale"] == cfg
    assert parsed["seed"] == seed
