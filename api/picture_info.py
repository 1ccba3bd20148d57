"""POST /sdapi/v1/png-info: what a picture says about how it was made, as A1111 reports it."""

from __future__ import annotations

import io
import re

from PIL import Image

from pipelines import PARAMETERS_KEY, load_picture, parse_parameters, read_parameters

from .pictures import decode_picture

# What A1111 adds to a parsed infotext when the text does not say (infotext_utils.parse_generation_parameters).
A1111_DEFAULTS = {
    "Clip skip": "1", "Hires resize-1": 0, "Hires resize-2": 0, "Hires sampler": "Use same sampler",
    "Hires schedule type": "Use same scheduler", "Hires checkpoint": "Use same checkpoint", "Hires prompt": "",
    "Hires negative prompt": "", "Mask mode": "Inpaint masked", "Masked content": "original",
    "Inpaint area": "Whole picture", "Masked area padding": 32, "RNG": "GPU", "Schedule type": "Automatic",
    "Schedule max sigma": 0, "Schedule min sigma": 0, "Schedule rho": 0, "VAE Encoder": "Full", "VAE Decoder": "Full",
    "FP8 weight": "Disable", "Refiner switch by sampling steps": False,
}
_SIZE = re.compile(r"^(\d+)x(\d+)$")


def picture_info(image_text: str, limits) -> dict:
    """The answer of /sdapi/v1/png-info for a base64 picture: its parameters text, parsed, and its other texts."""
    data = decode_picture("image", image_text)
    if data is None:
        return {"info": "", "items": {}, "parameters": {}}
    load_picture("image", data, limits)  # refuses what is not a picture, or too large to open safely
    text = read_parameters(data) or ""
    return {"info": text, "items": _other_texts(data), "parameters": a1111_parameters(text) if text else {}}


def a1111_parameters(text: str) -> dict:
    """An infotext as A1111 parses it: "Prompt", "Negative prompt", every setting as text, "WxH" split in two."""
    parsed = parse_parameters(text)
    result = {"Prompt": parsed["prompt"], "Negative prompt": parsed["negative_prompt"]}
    for key, value in parsed["settings"].items():
        size = _SIZE.match(value)
        if size:
            result[f"{key}-1"], result[f"{key}-2"] = size.group(1), size.group(2)
        else:
            result[key] = value
    return {**A1111_DEFAULTS, **result}


def _other_texts(data: bytes) -> dict:
    """The picture's other text chunks (Easel's record, its XMP labels), as A1111's `items`."""
    with Image.open(io.BytesIO(data)) as picture:  # already checked by load_picture
        texts = dict(getattr(picture, "text", None) or {})
    return {key: str(value) for key, value in texts.items() if key != PARAMETERS_KEY}
