"""Every bad value is refused with one error type whose message names the field and what is allowed."""

from __future__ import annotations

import io
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from pipelines.errors import InvalidRequest
from pipelines.request import ControlUnit, GenerationRequest, Limits, ModelFacts
from pipelines.validation import load_picture, validate

SAMPLERS = ["Euler", "Euler a", "DPM++ 2M Karras"]
SD1 = ModelFacts(name="tiny-sd15", family="sd1", default_size=64, default_steps=20, default_guidance=7.0,
                 default_sampler="Euler", control_types={"canny": ["sd1", "sdxl"], "tile": ["sd1"], "depth": ["sdxl"]})


def picture(size=(64, 64), colour="grey"):
    return Image.new("RGB", size, colour)


def png_bytes(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def painted_mask(size=(64, 64)):
    mask = Image.new("L", size, 0)
    mask.paste(255, (8, 8, 24, 24))
    return mask


BAD_REQUESTS = [
    # (what the user sent, the field the message must name, words it must contain)
    (dict(task="upscale"), "task", "choose one of"),
    (dict(steps=0), "steps", "from 1 to 150"),
    (dict(steps=151), "steps", "from 1 to 150"),
    (dict(steps=2.5), "steps", "whole number"),
    (dict(steps="twenty"), "steps", "must be a number"),
    (dict(steps=None, guidance_scale=math.nan), "guidance_scale", "finite"),
    (dict(guidance_scale=-1), "guidance_scale", "from 0 to 30"),
    (dict(guidance_scale=math.inf), "guidance_scale", "finite"),
    (dict(batch_size=0), "batch_size", "from 1 to 8"),
    (dict(batch_size=True), "batch_size", "must be a number"),
    (dict(seed=-2), "seed", "from -1"),
    (dict(seed=2**40), "seed", "from -1 to 4294967295, got 1099511627776"),
    (dict(width=500), "width", "multiple of 8"),
    (dict(width=32), "width", "from 64 to 2048"),
    (dict(height=4096), "height", "from 64 to 2048"),
    (dict(width=[512]), "width", "must be a number"),
    (dict(sampler="Euler b"), "sampler", "choose one of: Euler, Euler a"),
    (dict(prompt="x" * 100_000), "prompt", "100,000 characters"),
    (dict(prompt=42), "prompt", "must be text"),
    (dict(negative_prompt=b"bytes"), "negative_prompt", "must be text"),
    (dict(task="img2img"), "image", "missing"),
    (dict(task="img2img", image=b"GIF89a not really"), "image", "not a picture"),
    (dict(task="img2img", image=b"\x89PNG\r\n\x1a\n" + b"\x00" * 40), "image", "picture"),
    (dict(task="img2img", image=png_bytes(Image.effect_noise((64, 64), 80))[:600]), "image", "could not be read"),
    (dict(task="img2img", image=picture((1, 1))), "image", "at least 8 pixels"),
    (dict(task="img2img", image=picture(), strength=1.5), "strength", "from 0 to 1"),
    (dict(task="img2img", image=picture(), strength=0), "strength", "no step to run"),
    (dict(task="img2img", image=picture(), strength=0.01, steps=10), "strength", "no step to run"),
    (dict(task="img2img", image=picture(), resize_mode="stretch"), "resize_mode", "choose one of"),
    (dict(task="img2img", image=12345), "image", "must be a picture"),
    (dict(task="img2img", image="/no/such/file.png"), "image", "file not found"),
    (dict(task="inpaint", image=picture()), "mask", "missing"),
    (dict(task="inpaint", image=picture(), mask=Image.new("L", (64, 64), 0)), "mask", "nothing is painted"),
    (dict(task="inpaint", image=picture(), mask=Image.new("L", (64, 64), 255), invert_mask=True), "mask", "nothing is painted"),
    (dict(task="inpaint", image=picture(), mask=painted_mask(), mask_blur=-3), "mask_blur", "from 0 to 64"),
    (dict(task="controlnet"), "control_units", "at least one"),
    (dict(task="controlnet", control_units=[ControlUnit("pose", image=picture())]), "control_type", "unknown type"),
    (dict(task="controlnet", control_units=[ControlUnit("depth", image=picture())]), "control_type", "is for sdxl"),
    (dict(task="controlnet", control_units=[ControlUnit("canny")]), "control_image", "missing"),
    (dict(task="controlnet", control_units=[ControlUnit("canny", image=picture(), conditioning_scale=3)]),
     "conditioning_scale", "from 0 to 2"),
    (dict(task="controlnet", control_units=[ControlUnit("canny", image=picture(), start=0.8, end=0.2)]), "end", "after start"),
    (dict(task="controlnet", control_units=[ControlUnit("canny", image=picture(), preprocessor="magic")]),
     "preprocessor", "choose one of"),
    (dict(task="controlnet", control_units=[ControlUnit("canny", image=picture(),
                                                        preprocessor_params={"low_threshold": 300})]),
     "low_threshold", "from 1 to 255"),
    (dict(task="controlnet", control_units=[ControlUnit("canny", image=picture(),
                                                        preprocessor_params={"low_threshold": 200, "high_threshold": 100})]),
     "low_threshold", "not be above"),
    (dict(task="controlnet", control_units=[ControlUnit("canny", image=picture())] * 4), "control_units", "at most 3"),
    (dict(task="controlnet", control_units=[ControlUnit("tile", image=picture()), ControlUnit("canny", image=None)]),
     "control_units[1].control_image", "missing"),
]


@pytest.mark.parametrize("fields, field, words", BAD_REQUESTS, ids=[f"{i}-{b[1]}" for i, b in enumerate(BAD_REQUESTS)])
def test_a_bad_value_is_refused_with_a_message_naming_the_field(fields, field, words):
    with pytest.raises(InvalidRequest) as refused:
        validate(GenerationRequest(**{"prompt": "a cat", **fields}), SD1, SAMPLERS)
    assert refused.value.field.endswith(field)
    assert str(refused.value).startswith(refused.value.field + ": ")
    assert words in str(refused.value)


def test_an_operator_cap_on_pixels_refuses_large_sizes():
    with pytest.raises(InvalidRequest, match="width: 1024x1024 is over the limit of 589,824 pixels"):
        validate(GenerationRequest(width=1024, height=1024), SD1, SAMPLERS, Limits(max_pixels=768 * 768))


@pytest.mark.parametrize("size, words", [((20_000, 20_000), "decompression bomb"),
                                         ((10_000, 5_000), "is 10000x5000; pictures over 40,000,000 pixels are refused")])
def test_a_decompression_bomb_is_refused_before_decoding(size, words):
    bomb = Image.new("1", size)  # a small PNG that would decode to hundreds of megabytes
    buffer = io.BytesIO()
    bomb.save(buffer, format="PNG")
    assert len(buffer.getvalue()) < 100_000
    with pytest.raises(InvalidRequest, match=f"image: .*{words}"):
        load_picture("image", buffer.getvalue(), Limits())


def test_defaults_are_filled_in_from_the_model():
    resolved, warnings = validate(GenerationRequest(prompt="a cat"), SD1, SAMPLERS)
    assert (resolved.steps, resolved.guidance_scale, resolved.sampler, resolved.width, resolved.height) == (20, 7.0, "Euler", 64, 64)
    assert warnings == []


def test_a_mask_of_another_size_is_resized_and_the_user_is_told():
    resolved, warnings = validate(GenerationRequest(task="inpaint", image=picture((128, 96)), mask=painted_mask((64, 48))),
                                  SD1, SAMPLERS)
    assert resolved.mask.size == (128, 96)
    assert warnings == ["mask: resized from 64x48 to the image's 128x96"]


def test_faintly_painted_mask_pixels_count_and_the_mask_becomes_black_and_white():
    mask = Image.new("L", (64, 64), 0)
    mask.putpixel((5, 5), 3)  # a browser's anti-aliased brush edge
    resolved, _ = validate(GenerationRequest(task="inpaint", image=picture(), mask=mask), SD1, SAMPLERS)
    assert resolved.mask.getpixel((5, 5)) == 255 and set(resolved.mask.getdata()) == {0, 255}


def test_control_characters_are_removed_from_prompts_and_unicode_is_kept():
    resolved, warnings = validate(GenerationRequest(prompt="a cat\x00 in \x1b[31mred 猫 🐱\nsecond line"), SD1, SAMPLERS)
    assert resolved.prompt == "a cat in [31mred 猫 🐱\nsecond line"
    assert warnings[0] == "prompt: removed 2 control characters"  # (the "[31m" left is an unclosed bracket too)


def test_numbers_sent_as_text_or_whole_floats_are_accepted():
    resolved, _ = validate(GenerationRequest(steps="12", width=128.0, guidance_scale="4.5"), SD1, SAMPLERS)
    assert (resolved.steps, resolved.width, resolved.guidance_scale) == (12, 128, 4.5)


def test_an_init_image_sets_the_size_and_transparent_areas_become_white():
    rgba = Image.new("RGBA", (100, 90), (255, 0, 0, 0))
    resolved, _ = validate(GenerationRequest(task="img2img", image=rgba), SD1, SAMPLERS)
    assert resolved.image.size == (96, 88) and resolved.image.getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("mode, corner", [("resize", (255, 0, 0)), ("crop", (255, 0, 0)), ("fill", (0, 0, 255))])
def test_resize_modes_bring_the_picture_to_the_requested_size(mode, corner):
    source = Image.new("RGB", (128, 64), (0, 0, 255))
    source.paste((255, 0, 0), (0, 0, 128, 64))
    source.putpixel((0, 0), (0, 0, 255))  # "fill" pads with the colour of the top-left pixel
    resolved, _ = validate(GenerationRequest(task="img2img", image=source, width=64, height=64, resize_mode=mode), SD1, SAMPLERS)
    assert resolved.image.size == (64, 64)
    assert resolved.image.getpixel((32, 2)) == corner


# --- fuzzing: whatever arrives, the only failure is InvalidRequest -------------------------------

anything = st.one_of(st.none(), st.booleans(), st.integers(-2**64, 2**64), st.floats(allow_nan=True, allow_infinity=True),
                     st.text(max_size=30), st.binary(max_size=40), st.lists(st.integers(), max_size=3))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(task=st.sampled_from(["txt2img", "img2img", "inpaint", "controlnet", "other"]), steps=anything,
       guidance_scale=anything, width=anything, height=anything, batch_size=anything, seed=anything,
       strength=anything, sampler=anything, prompt=anything, mask_blur=anything,
       scale=anything, start=anything, end=anything, control_type=st.sampled_from(["canny", "depth", "x", None]))
def test_validation_never_fails_with_anything_but_a_clear_invalid_request(task, steps, guidance_scale, width, height,
                                                                          batch_size, seed, strength, sampler, prompt,
                                                                          mask_blur, scale, start, end, control_type):
    request = GenerationRequest(
        task=task, prompt=prompt, steps=steps, guidance_scale=guidance_scale, width=width, height=height,
        batch_size=batch_size, seed=seed, strength=strength, sampler=sampler, mask_blur=mask_blur,
        image=picture(), mask=painted_mask(),
        control_units=[ControlUnit(control_type, image=picture(), conditioning_scale=scale, start=start, end=end)],
    )
    try:
        resolved, _ = validate(request, SD1, SAMPLERS)
    except InvalidRequest as error:
        assert error.field and str(error).startswith(error.field)
    else:
        assert 1 <= resolved.steps <= 150 and resolved.width % 8 == 0 and resolved.height % 8 == 0
        assert math.isfinite(resolved.guidance_scale) and 1 <= resolved.batch_size <= 8
