"""Bad inputs a stranger (or a slip of the hand) sends, and the field each answer must name.

The table is shared by the tests that send it through the UI's handlers and through the API. `File`
marks an uploaded picture (made by `make_files`); `Editor` is the inpaint editor's value.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class File:
    name: str


@dataclass(frozen=True)
class Editor:
    background: File | None
    layers: tuple = ()


@dataclass(frozen=True)
class Case:
    id: str
    endpoint: str
    inputs: dict
    field: str  # the answer must start "<field>: "
    words: str = ""  # and contain these words
    extra: dict = field(default_factory=dict)


PHOTO, PAINT = File("photo.png"), File("paint.png")
CANNY = {"control_type": "canny", "control_image": PHOTO}

CASES = [
    # sizes
    Case("width not a multiple of 8", "txt2img", {"width": 100}, "width", "multiple of 8"),
    Case("width zero", "txt2img", {"width": 0}, "width", "from 64"),
    Case("width negative", "txt2img", {"width": -64}, "width", "from 64"),
    Case("width as text", "txt2img", {"width": "wide"}, "width", "must be a number"),
    Case("width huge", "txt2img", {"width": 100_000}, "width", "to 2048"),
    Case("height huge", "txt2img", {"height": 4096}, "height", "to 2048"),
    Case("height NaN", "txt2img", {"height": math.nan}, "height", "finite"),
    Case("extreme aspect ratio", "txt2img", {"width": 2048, "height": 16}, "height", "from 64"),
    Case("extreme aspect picture", "img2img", {"image": File("sliver.png"), "width": None, "height": None}, "height",
         "the picture is 4000x16"),
    # numbers
    Case("steps zero", "txt2img", {"steps": 0}, "steps", "from 1"),
    Case("steps too many", "txt2img", {"steps": 10_000}, "steps", "to 150"),
    Case("steps fractional", "txt2img", {"steps": 2.5}, "steps", "whole number"),
    Case("steps as text", "txt2img", {"steps": "many"}, "steps", "must be a number"),
    Case("batch zero", "txt2img", {"batch_size": 0}, "batch_size", "from 1"),
    Case("batch too large", "txt2img", {"batch_size": 1000}, "batch_size", "to 8"),
    Case("guidance negative", "txt2img", {"guidance_scale": -1}, "guidance_scale"),
    Case("guidance NaN", "txt2img", {"guidance_scale": math.nan}, "guidance_scale", "finite"),
    Case("guidance infinite", "txt2img", {"guidance_scale": math.inf}, "guidance_scale", "finite"),
    Case("guidance as a list", "txt2img", {"guidance_scale": [7]}, "guidance_scale", "must be a number"),
    Case("seed below -1", "txt2img", {"seed": -5}, "seed"),
    Case("seed beyond 32 bits", "txt2img", {"seed": 2**40}, "seed"),
    Case("seed as text", "txt2img", {"seed": "lucky"}, "seed", "must be a number"),
    # text and choices
    Case("100 000-character prompt", "txt2img", {"prompt": "a" * 100_000}, "prompt", "100,000 characters"),
    Case("huge negative prompt", "txt2img", {"negative_prompt": "n" * 20_000}, "negative_prompt", "limit"),
    Case("prompt not text", "txt2img", {"prompt": {"text": "a"}}, "prompt", "must be text"),
    Case("unknown sampler", "txt2img", {"sampler": "Nope"}, "sampler", "choose one of"),
    Case("unknown model", "txt2img", {"model": "no-such-model"}, "model"),
    # pictures
    Case("no picture", "img2img", {}, "image", "is missing"),
    Case("not image bytes named .png", "img2img", {"image": File("not-a-picture.png")}, "image", "not a picture"),
    Case("truncated PNG", "img2img", {"image": File("truncated.png")}, "image", "could not be read"),
    Case("decompression bomb", "img2img", {"image": File("bomb.png")}, "image", "refused"),
    Case("1x1 picture", "img2img", {"image": File("one-pixel.png")}, "image", "at least 8 pixels"),
    Case("strength zero", "img2img", {"image": PHOTO, "strength": 0}, "strength"),
    Case("strength above one", "img2img", {"image": PHOTO, "strength": 5}, "strength"),
    Case("unknown resize mode", "img2img", {"image": PHOTO, "resize_mode": "zoom"}, "resize_mode", "choose one of"),
    # inpainting
    Case("nothing painted", "inpaint", {"image": Editor(PHOTO)}, "mask", "nothing is painted"),
    Case("no picture to inpaint", "inpaint", {"image": None}, "image", "is missing"),
    Case("mask not a picture", "inpaint", {"image": Editor(PHOTO), "mask": File("not-a-picture.png")}, "mask"),
    Case("painted layer truncated", "inpaint", {"image": Editor(PHOTO, (File("truncated.png"),))}, "mask"),
    Case("all-black uploaded mask", "inpaint", {"image": Editor(PHOTO), "mask": File("black.png")}, "mask",
         "nothing is painted"),
    Case("mask blur negative", "inpaint", {"image": Editor(PHOTO, (PAINT,)), "mask_blur": -1}, "mask_blur"),
    Case("padding negative", "inpaint", {"image": Editor(PHOTO, (PAINT,)), "only_masked_padding": -5},
         "only_masked_padding"),
    # the detailer
    Case("detailer confidence above one", "txt2img", {"adetailer": True, "ad_confidence": 1.5}, "ad_confidence",
         "from 0 to 1"),
    Case("detailer mask blur negative", "img2img", {"image": PHOTO, "adetailer": True, "ad_mask_blur": -2},
         "ad_mask_blur"),
    # outpainting
    Case("outpaint pixels negative", "outpaint", {"image": PHOTO, "left": -8}, "outpaint_left", "from 0 to 1024"),
    Case("outpaint pixels past the limit", "outpaint", {"image": PHOTO, "down": 5000}, "outpaint_down", "to 1024"),
    Case("outpaint past the largest side", "outpaint", {"image": PHOTO, "left": 1024, "right": 1024},
         "outpaint_left", "over the limit of 2048 pixels a side"),
    Case("outpaint no side grows", "outpaint", {"image": PHOTO, "left": 0, "right": 0, "up": 0, "down": 0},
         "outpaint_left", "no side grows"),
    Case("outpaint unknown fill", "outpaint", {"image": PHOTO, "left": 8, "fill": "lava"}, "outpaint_fill", "choose one of"),
    Case("outpaint without a picture", "outpaint", {}, "image", "is missing"),
    # ControlNet
    Case("unknown ControlNet type", "controlnet", {**CANNY, "control_type": "telepathy"}, "control_type", "unknown"),
    Case("ControlNet of the wrong family", "controlnet", {**CANNY, "model": "tiny-sdxl", "control_type": "tile"},
         "control_type", "sd1"),
    Case("no control picture", "controlnet", {"control_type": "canny"}, "control_image", "is missing"),
    Case("control picture not a picture", "controlnet", {**CANNY, "control_image": File("not-a-picture.png")},
         "control_image"),
    Case("conditioning scale too high", "controlnet", {**CANNY, "conditioning_scale": 5}, "conditioning_scale"),
    Case("end before start", "controlnet", {**CANNY, "control_start": 0.8, "control_end": 0.2}, "end", "after start"),
    Case("unknown preprocessor", "controlnet", {**CANNY, "preprocessor": "x-ray"}, "preprocessor"),
    Case("canny thresholds crossed", "controlnet", {**CANNY, "low_threshold": 250, "high_threshold": 10},
         "low_threshold"),
]


def make_files(folder: Path) -> Path:
    """The pictures (good and broken) that the table uploads."""
    from skimage import data

    Image.fromarray(data.astronaut()).resize((64, 64)).save(folder / "photo.png")
    layer = np.zeros((64, 64, 4), np.uint8)
    layer[16:48, 16:48] = (255, 255, 255, 200)  # a painted square, as the browser's editor sends it
    Image.fromarray(layer, "RGBA").save(folder / "paint.png")
    Image.new("L", (64, 64), 0).save(folder / "black.png")
    Image.new("RGB", (4000, 16), "gray").save(folder / "sliver.png")
    Image.new("RGB", (1, 1), "red").save(folder / "one-pixel.png")
    (folder / "not-a-picture.png").write_bytes(b"#!/bin/sh\necho these are not pixels\n" * 20)
    png = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((64, 64)).save(png, "PNG")
    (folder / "truncated.png").write_bytes(png.getvalue()[: len(png.getvalue()) // 3])
    # 30 000 x 30 000 pixels (900 megapixels) in a few kilobytes: decoding it would take gigabytes
    Image.new("1", (30_000, 30_000)).save(folder / "bomb.png")
    return folder


def materialise(value, upload):
    """Replace File/Editor markers by what a transport sends: `upload(path)` for each file."""
    if isinstance(value, File):
        return upload(value.name)
    if isinstance(value, Editor):
        return {"background": upload(value.background.name) if value.background else None,
                "layers": [upload(layer.name) for layer in value.layers], "composite": None}
    return value
