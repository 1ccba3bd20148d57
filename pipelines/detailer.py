"""The detailer, as A1111's ADetailer extension does it: after a picture is made, find the faces in it and redraw
each one larger through the inpaint path, on the weights that made the picture, pasted back under a soft mask.

Each unit (ADetailer's tab) finds, filters and shapes its masks in ADetailer's order (adetailer/mask.py): the
finds above the confidence, those between the min and max share of the picture, the k largest, each box grown
by `dilate_erode` and moved by the offsets, then merged (and inverted) if asked. Each mask is one inpaint pass
of the run's own engine (`run_pass`, the manager's), at `denoising_strength`, "only masked" by default: a crop
around the find, padded, redrawn at the inpaint size and pasted back. A picture with nothing found is kept as it
was, with a note. The parameters text takes ADetailer's names (`ADetailer model`, `ADetailer denoising
strength`, ..., with " 2nd" for the second unit), written only when not the default, as ADetailer writes them.

Faces are found with dlib (face_detection.py): ADetailer's face models (YOLO and MediaPipe ones) are answered
with it, and the run says so. `confidence` maps onto dlib's threshold: 0.3, ADetailer's default, is dlib's own.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

from PIL import Image, ImageChops, ImageDraw, ImageOps

from .face_detection import find_faces
from .request import DetailerUnit, GenerationRequest

DETECTORS = ("face_dlib",)
MERGE_MODES = ("None", "Merge", "Merge and Invert")
DEFAULT_CONFIDENCE = 0.3  # ADetailer's; dlib's own threshold, 0, stands for it
CONFIDENCE_SPAN = 3.0  # dlib threshold per unit of confidence: 1.0 asks for a score of 2.1, 0 takes down to -0.9
MAX_UNITS = 4
SEPARATOR, MAIN_PROMPT = "[SEP]", "[PROMPT]"  # ADetailer's: a prompt per find; the picture's prompt in a unit's


def is_face_model(name: str) -> bool:
    """ADetailer's names for face detectors (face_yolov8n.pt, face_yolov9c.pt, mediapipe_face_full, ...)."""
    lowered = name.strip().lower()
    return lowered.startswith(("face_", "mediapipe_face"))


def suffix(index: int) -> str:
    """ADetailer's suffix for a unit's infotext keys and fields: "" for the first, " 2nd", " 3rd", " 4th"."""
    if index == 0:
        return ""
    number = index + 1
    return f" {number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number if number < 20 else number % 10, 'th')}"


def find_masks(picture: Image.Image, unit: DetailerUnit) -> list[Image.Image]:
    """The unit's masks for the picture (white: redraw), in ADetailer's order of filters and shaping."""
    threshold = (unit.confidence - DEFAULT_CONFIDENCE) * CONFIDENCE_SPAN
    boxes = find_faces(picture, threshold)  # largest first
    area = picture.width * picture.height
    boxes = [b for b in boxes if unit.mask_min_ratio <= (b[2] - b[0]) * (b[3] - b[1]) / area <= unit.mask_max_ratio]
    if unit.mask_k_largest:
        boxes = boxes[:unit.mask_k_largest]
    masks = [_box_mask(picture.size, box, unit) for box in boxes]
    masks = [mask for mask in masks if mask.getbbox() is not None]
    if masks and unit.mask_merge_invert != "None":
        merged = masks[0]
        for mask in masks[1:]:
            merged = ImageChops.lighter(merged, mask)
        masks = [ImageOps.invert(merged) if unit.mask_merge_invert == "Merge and Invert" else merged]
    return masks


def _box_mask(size: tuple[int, int], box, unit: DetailerUnit) -> Image.Image:
    # ADetailer dilates with a square kernel of `dilate_erode` pixels: half of it on each side
    grow = unit.dilate_erode // 2 if unit.dilate_erode >= 0 else -((-unit.dilate_erode) // 2)
    left, top, right, bottom = box
    # ADetailer's offsets: x to the right, y up
    left, right = left - grow + unit.x_offset, right + grow + unit.x_offset
    top, bottom = top - grow - unit.y_offset, bottom + grow - unit.y_offset
    mask = Image.new("L", size, 0)
    if right > left and bottom > top:
        ImageDraw.Draw(mask).rectangle((left, top, right - 1, bottom - 1), fill=255)
    return mask


def unit_prompts(unit: DetailerUnit, request: GenerationRequest, main: tuple[str, str], index: int,
                 warnings: list[str]) -> tuple[list[str], str]:
    """The unit's prompts as the text encoder reads them: one per find when split by [SEP] (the last one for
    the finds beyond), [PROMPT] standing for the picture's prompt; empty: the picture's. `main` is the picture's
    prompt and negative prompt without their tags (networks.py): the picture's LoRAs act on every pass."""
    from .prompt_syntax import extract_networks

    prompts = [main[0]]
    if unit.prompt.strip():
        text, tags = extract_networks(unit.prompt, field=f"ad_prompt{suffix(index)}")
        if tags:
            warnings.append(f"ad_prompt{suffix(index)}: Easel applies the prompt's LoRAs to the detailer too; "
                            f"the tags in the detailer's prompt were not used")
        prompts = [part.strip().replace(MAIN_PROMPT, main[0]) or main[0] for part in text.split(SEPARATOR)]
    negative = main[1]
    if unit.negative_prompt.strip():
        negative = extract_networks(unit.negative_prompt, field=f"ad_negative_prompt{suffix(index)}")[0]
        negative = negative.split(SEPARATOR)[0].replace(MAIN_PROMPT, main[1]).strip() or main[1]
    return prompts, negative


def detail_request(request: GenerationRequest, unit: DetailerUnit, picture: Image.Image,
                   mask: Image.Image) -> GenerationRequest:
    """One find's inpaint pass: the picture, the find's mask, the unit's strength and settings."""
    width, height = picture.size
    if unit.inpaint_only_masked and unit.inpaint_width and unit.inpaint_height:
        width, height = unit.inpaint_width, unit.inpaint_height
    return dataclasses.replace(
        request, task="inpaint", image=picture, mask=mask, mask_blur=unit.mask_blur, invert_mask=False,
        inpaint_only_masked=unit.inpaint_only_masked, only_masked_padding=unit.inpaint_only_masked_padding,
        strength=unit.denoising_strength, batch_size=1, width=width, height=height,
        steps=unit.steps or request.steps, sampler=unit.sampler or request.sampler,
        guidance_scale=request.guidance_scale if unit.cfg_scale is None else unit.cfg_scale,
        hires=None, detailer=None, outpaint=None, control_units=[])


def run(request: GenerationRequest, pictures: list, seeds: list[int], run_pass: Callable, on_step,
        main_prompts: tuple[str, str], warnings: list[str]) -> tuple[list, dict, list[str], str | None]:
    """Every unit over every picture, in turn. `run_pass(request, on_step, latents, prompts, seed)` is the
    engine's one pass; returns (the pictures, timings, memory fallbacks, the last pass's offload mode or None)."""
    started = time.perf_counter()
    fallbacks: list[str] = []
    mode = None
    detailed = []
    for number, (picture, seed) in enumerate(zip(pictures, seeds), start=1):
        for index, unit in enumerate(request.detailer.units):
            masks = find_masks(picture, unit)
            if not masks:
                warnings.append(f"ad_model{suffix(index)}: no face found in picture {number}; it is kept as made")
                continue
            prompts, negative = unit_prompts(unit, request, main_prompts, index, warnings)
            for find, mask in enumerate(masks):
                prompt = prompts[min(find, len(prompts) - 1)]
                # ADetailer's seed for a unit: the picture's, plus the unit's place
                images, _timings, mode, pass_fallbacks, _nsfw = run_pass(
                    detail_request(request, unit, picture, mask), on_step, False, (prompt, negative), seed + index)
                picture = images[0]
                fallbacks += [f for f in pass_fallbacks if f not in fallbacks]
        detailed.append(picture)
    return detailed, {"detailer": round(time.perf_counter() - started, 3)}, fallbacks, mode


def labels(request: GenerationRequest) -> dict:
    """The parameters text's ADetailer entries, by ADetailer's names, those it writes (adetailer/args.py)."""
    added: dict = {}
    for index, unit in enumerate(request.detailer.units):
        s = suffix(index)
        entries = {"ADetailer model": unit.model, "ADetailer prompt": unit.prompt or None,
                   "ADetailer negative prompt": unit.negative_prompt or None,
                   "ADetailer confidence": unit.confidence,
                   "ADetailer mask only top k largest": unit.mask_k_largest or None,
                   "ADetailer mask min ratio": unit.mask_min_ratio or None,
                   "ADetailer mask max ratio": unit.mask_max_ratio if unit.mask_max_ratio != 1 else None,
                   "ADetailer x offset": unit.x_offset or None, "ADetailer y offset": unit.y_offset or None,
                   "ADetailer dilate erode": unit.dilate_erode,
                   "ADetailer mask merge invert": unit.mask_merge_invert if unit.mask_merge_invert != "None" else None,
                   "ADetailer mask blur": unit.mask_blur, "ADetailer denoising strength": unit.denoising_strength,
                   "ADetailer inpaint only masked": unit.inpaint_only_masked,
                   "ADetailer inpaint padding": unit.inpaint_only_masked_padding if unit.inpaint_only_masked else None}
        if unit.inpaint_width and unit.inpaint_height:
            entries.update({"ADetailer use inpaint width height": True, "ADetailer inpaint width": unit.inpaint_width,
                            "ADetailer inpaint height": unit.inpaint_height})
        if unit.steps:
            entries.update({"ADetailer use separate steps": True, "ADetailer steps": unit.steps})
        if unit.cfg_scale is not None:
            entries.update({"ADetailer use separate CFG scale": True, "ADetailer CFG scale": unit.cfg_scale})
        if unit.sampler:
            entries.update({"ADetailer use separate sampler": True, "ADetailer sampler": unit.sampler})
        added.update({key + s: value for key, value in entries.items() if value is not None})
    return added
