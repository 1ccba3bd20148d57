"""The one place a request is checked: every field of a GenerationRequest, and the pictures it carries.

`validate` returns a resolved copy (defaults filled in, pictures decoded and fitted to the output size) and
warnings, or raises `InvalidRequest` naming the first bad field, so every front end can show it as it is.
"""

from __future__ import annotations

import dataclasses
import io
import math
import re
import unicodedata
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops, ImageOps, UnidentifiedImageError

from .catalog import CONTROL_TYPES, DETECT_RESOLUTION, FAMILIES, PASS_THROUGH, PREPROCESSOR_PARAMETERS, PREPROCESSORS
from . import prompt_syntax
from .flow_families import CONTROLNET_TASKS
from .errors import InvalidRequest
from . import detailer as detailing
from . import freeu
from . import hires as hires_fix
from . import outpaint as outpainting
from . import xyz_plot
from .request import (DECODES, IMAGE_PROMPT_MODES, MAX_FEATURE_CACHE, MAX_SEED, RESIZE_MODES, TASKS, ControlUnit,
                      Detailer, DetailerUnit, ExtrasRequest, GenerationRequest, HiresFix, ImagePrompt, Limits,
                      ModelFacts, Outpaint, Plot, PlotAxis)

MAX_CLIP_SKIP = 12  # A1111's slider goes to 12: the layers of SD 1.x's text encoder
# the UNets (DeepCache) and FLUX.1's transformer (diffusers' TaylorSeer cache): feature_cache.py
FEATURE_CACHE_FAMILIES = ("sd1", "sd2", "sdxl", "sdxl_refiner", "flux")
MAX_PAG_SCALE = 10.0  # the PAG paper's pictures use 1-5; beyond 10 only noise


# --- scalar fields -------------------------------------------------------------------------------


def _number(name: str, value: Any, *, integer: bool, low: float, high: float) -> int | float:
    if isinstance(value, bool) or value is None:
        raise InvalidRequest(name, f"must be a number from {_shown(low)} to {_shown(high)}, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InvalidRequest(name, f"must be a number from {_shown(low)} to {_shown(high)}, got {value!r}") from None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidRequest(name, f"must be a number from {_shown(low)} to {_shown(high)}, got {type(value).__name__}") from None
    if not math.isfinite(number):
        raise InvalidRequest(name, f"must be a finite number from {_shown(low)} to {_shown(high)}, got {value!r}")
    if integer and number != int(number):
        raise InvalidRequest(name, f"must be a whole number from {_shown(low)} to {_shown(high)}, got {value!r}")
    if not low <= number <= high:
        raise InvalidRequest(name, f"must be from {_shown(low)} to {_shown(high)}, got {_shown(number)}")
    return int(number) if integer else number


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _text(name: str, value: Any, limits: Limits, warnings: list[str]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRequest(name, f"must be text, got {type(value).__name__}")
    if len(value) > limits.max_prompt_chars:
        raise InvalidRequest(name, f"is {len(value):,} characters long; the limit is {limits.max_prompt_chars:,}")
    # Control characters (pasted from terminals or PDFs) mean nothing to a text encoder; drop and say so.
    cleaned, removed = _CONTROL_CHARACTERS.subn("", unicodedata.normalize("NFC", value))
    if removed:
        warnings.append(f"{name}: removed {removed} control character{'s' * (removed > 1)}")
    # A1111's prompt syntax: a weight that is not a number is refused; what A1111 reads silently in a way
    # the user may not expect (an unclosed bracket, AND) is said
    prompt_syntax.check_weights(cleaned, name)
    prompt_syntax.extract_networks(cleaned, name)  # a LoRA tag's weights, checked before any model loads
    warnings += [f"{name}: {note}" for note in prompt_syntax.syntax_warnings(cleaned)]
    return cleaned


def _choice(name: str, value: Any, allowed: list[str] | tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidRequest(name, f"unknown value {value!r}; choose one of: {', '.join(map(str, allowed))}")
    return value


# --- pictures ------------------------------------------------------------------------------------


def load_picture(name: str, value: Any, limits: Limits, mode: str = "RGB") -> Image.Image:
    """Turn an uploaded picture (PIL image, array, path or bytes) into a PIL image, refusing what is unsafe."""
    if value is None:
        raise InvalidRequest(name, "is missing: upload a picture")
    if isinstance(value, Image.Image):
        picture = value
    elif hasattr(value, "__array_interface__"):
        try:
            picture = Image.fromarray(value)
        except (TypeError, ValueError) as error:
            raise InvalidRequest(name, f"is not a picture array ({error})") from None
    else:
        picture = _open_picture(name, value, limits)
    width, height = picture.size
    if width * height > limits.max_input_pixels:
        raise InvalidRequest(name, f"is {width}x{height}; pictures over {limits.max_input_pixels:,} pixels are refused")
    if min(width, height) < 8:
        raise InvalidRequest(name, f"is {width}x{height}; it must be at least 8 pixels on each side")
    try:
        picture = ImageOps.exif_transpose(picture)  # phone photos: honour the rotation the camera recorded
        if mode == "RGB" and picture.mode in ("RGBA", "LA", "P"):
            # transparent areas become white, as they look in the browser
            rgba = picture.convert("RGBA")
            background = Image.new("RGBA", rgba.size, "white")
            return Image.alpha_composite(background, rgba).convert("RGB")
        return picture.convert(mode)
    except (OSError, ValueError) as error:  # truncated or corrupt data is only found when decoding
        raise InvalidRequest(name, f"could not be read as a picture ({error})") from None


def _open_picture(name: str, value: Any, limits: Limits) -> Image.Image:
    if isinstance(value, (bytes, bytearray)):
        source = io.BytesIO(value)
    elif isinstance(value, (str, Path)):
        if not Path(value).is_file():
            raise InvalidRequest(name, f"file not found: {value}")
        source = value
    else:
        raise InvalidRequest(name, f"must be a picture, got {type(value).__name__}")
    try:
        picture = Image.open(source)
        # Image.open reads only the header: check the size before any pixel is decoded.
        width, height = picture.size
        if width * height > limits.max_input_pixels:
            raise InvalidRequest(
                name, f"is {width}x{height}; pictures over {limits.max_input_pixels:,} pixels are refused"
            )
        picture.load()
        return picture
    except InvalidRequest:
        raise
    except Image.DecompressionBombError:
        raise InvalidRequest(name, f"is too large to decode safely (a decompression bomb?); pictures over "
                                   f"{limits.max_input_pixels:,} pixels are refused") from None
    except UnidentifiedImageError:
        raise InvalidRequest(name, "is not a picture Easel can read (PNG, JPEG, WebP, ...)") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise InvalidRequest(name, f"could not be read as a picture ({error})") from None


def fit_picture(picture: Image.Image, width: int, height: int, resize_mode: str) -> Image.Image:
    """Bring a picture to the output size the way the user chose."""
    if picture.size == (width, height):
        return picture
    if resize_mode == "crop":
        return ImageOps.fit(picture, (width, height), Image.Resampling.LANCZOS)
    if resize_mode == "fill":
        fitted = ImageOps.contain(picture, (width, height), Image.Resampling.LANCZOS)
        canvas = Image.new(picture.mode, (width, height), picture.getpixel((0, 0)))
        canvas.paste(fitted, ((width - fitted.width) // 2, (height - fitted.height) // 2))
        return canvas
    return picture.resize((width, height), Image.Resampling.LANCZOS)


def _round_down_to_8(value: int) -> int:
    return max(8, value - value % 8)


# --- the whole request ---------------------------------------------------------------------------


def validate(
    request: GenerationRequest, facts: ModelFacts, samplers: list[str], limits: Limits = Limits(),
    vaes: list[str] | tuple[str, ...] = (), upscalers: list[str] | tuple[str, ...] = (),
    restorers: list[str] | tuple[str, ...] = (),
) -> tuple[GenerationRequest, list[str]]:
    """Check every field and return a resolved copy (defaults filled in, pictures decoded) and warnings.

    The copy has concrete values only: steps, guidance, sampler, size, seed >= -1, PIL pictures at the
    output size. Raises InvalidRequest naming the first bad field.
    """
    warnings: list[str] = []
    task = _choice("task", request.task, TASKS)
    if request.clip_skip not in (None, 1) and facts.family != "sd1":
        # A1111 reads CLIP skip for SD 1.x only (its SD 2.x and SDXL encoders take a fixed layer)
        warnings.append(f"clip_skip: CLIP skip {request.clip_skip} applies to SD 1.x models only; "
                        f"{facts.name} is not one, so it is not used (A1111 does the same)")
    if request.freeu not in (None, False, "False") and facts.family not in freeu.VALUES:
        raise InvalidRequest("freeu", f"FreeU has published values for SD 1.x, SD 2.x and SDXL, not {facts.family}")
    if facts.family == "sdxl_refiner":
        raise InvalidRequest("model", f"{facts.name} is an SDXL refiner: it finishes an SDXL model's pictures; choose "
                                      f"an SDXL model, with {facts.name} as its refiner")
    if facts.inpainting_only and task != "inpaint":
        raise InvalidRequest("model", f"{facts.name} is an inpainting model; use it from the Inpaint tab")
    family = FAMILIES.get(facts.family)
    sampler = request.sampler
    if family is not None and not family.unet:
        samplers = _transformer_rules(request, facts, family)
        if sampler not in (None, *samplers):  # a page's or client's SD default: the family's own, and said so
            warnings.append(f"sampler: {facts.name} is {family.label}, a flow-matching model: it samples with "
                            f"{' or '.join(samplers)}, not {sampler}, so {samplers[0]} was used")
            sampler = None
    max_guidance = family.max_guidance if family is not None else 30
    resolved = dataclasses.replace(
        request,
        prompt=_text("prompt", request.prompt, limits, warnings),
        negative_prompt=_text("negative_prompt", request.negative_prompt, limits, warnings),
        seed=_number("seed", request.seed, integer=True, low=-1, high=MAX_SEED),
        subseed=_number("subseed", request.subseed, integer=True, low=-1, high=MAX_SEED),
        subseed_strength=_number("subseed_strength", request.subseed_strength, integer=False, low=0, high=1),
        seed_resize_from_w=_seed_resize("seed_resize_from_w", request.seed_resize_from_w, limits),
        seed_resize_from_h=_seed_resize("seed_resize_from_h", request.seed_resize_from_h, limits),
        steps=_number("steps", facts.default_steps if request.steps is None else request.steps,
                      integer=True, low=1, high=limits.max_steps),
        guidance_scale=_guidance(request, facts, max_guidance),
        distilled_guidance=None,
        sampler=_choice("sampler", facts.default_sampler if sampler is None else sampler, samplers),
        batch_size=_number("batch_size", request.batch_size, integer=True, low=1, high=limits.max_batch),
        clip_skip=_number("clip_skip", request.clip_skip, integer=True, low=1, high=MAX_CLIP_SKIP),
        vae=_vae(request.vae, vaes),
        styles=_styles(request.styles),
        tiling=_switch("tiling", request.tiling),
        freeu=_switch("freeu", request.freeu),
        pag_scale=_number("pag_scale", request.pag_scale, integer=False, low=0, high=MAX_PAG_SCALE),
        decode=_decode(request.decode, facts),
        feature_cache=_feature_cache(request.feature_cache, facts),
        resize_mode=_choice("resize_mode", request.resize_mode, RESIZE_MODES),
        image=None,
        mask=None,
        control_units=[],
        image_prompts=_image_prompts(request.image_prompts, limits),
    )

    init_image = None
    needs_init = task in ("img2img", "inpaint")
    if needs_init or request.image is not None:
        init_image = load_picture("image", request.image, limits)
    resolved.outpaint = None
    if request.outpaint is not None:  # the canvas and its mask stand in for the picture and the painted mask
        init_image, request = _resolve_outpaint(request, resolved, task, init_image, limits, warnings)
    _resolve_size(resolved, init_image, facts, limits)

    if init_image is not None:
        resolved.image = fit_picture(init_image, resolved.width, resolved.height, resolved.resize_mode)
        resolved.strength = _number("strength", request.strength, integer=False, low=0, high=1)
        if resolved.strength == 0 or int(resolved.steps * resolved.strength) < 1:
            raise InvalidRequest(
                "strength", f"{resolved.strength:g} x {resolved.steps} steps leaves no step to run; raise strength or steps"
            )
    if task == "inpaint" or (task == "controlnet" and request.mask is not None):
        resolved.mask = _resolve_mask(request, resolved, init_image, limits, warnings)
        resolved.mask_blur = _number("mask_blur", request.mask_blur, integer=True, low=0, high=64)
        resolved.only_masked_padding = _number("only_masked_padding", request.only_masked_padding,
                                               integer=True, low=0, high=256)
    if task == "controlnet":
        _controlnet_task_supported(facts, resolved)
        resolved.control_units = _resolve_control_units(request.control_units, facts, resolved, limits)
    resolved.hires = None
    if request.hires is not None:
        if task == "txt2img":
            resolved.hires = _resolve_hires(request, resolved, samplers, upscalers, limits, warnings)
        else:
            warnings.append(f"enable_hr: the hires fix is for text to image without ControlNet; the picture was "
                            f"made at {resolved.width}x{resolved.height}")
    resolved.refiner = _refiner(request, resolved, facts, task, warnings)
    resolved.restore_faces = None
    if request.restore_faces not in (None, "", "None"):
        if not restorers:
            raise InvalidRequest("restore_faces", "no face restorer is installed: put GFPGANv1.4.pth in models/GFPGAN "
                                                  "(or CodeFormer's in models/Codeformer)")
        resolved.restore_faces = _choice("restore_faces", request.restore_faces, list(restorers))
        resolved.codeformer_weight = _number("codeformer_weight", request.codeformer_weight, integer=False, low=0,
                                             high=1)
    resolved.detailer = None
    if request.detailer is not None:
        resolved.detailer = _resolve_detailer(request.detailer, resolved, task, samplers, limits, warnings)
    return resolved, warnings


def _feature_cache(value: Any, facts: ModelFacts) -> int:
    interval = _number("feature_cache", value or 0, integer=True, low=0, high=MAX_FEATURE_CACHE)
    if interval > 1 and facts.family not in FEATURE_CACHE_FAMILIES:
        label = FAMILIES[facts.family].label if facts.family in FAMILIES else facts.family
        raise InvalidRequest("feature_cache", f"{facts.name} is {label}, whose denoiser has no feature cache here "
                                              "(diffusers has no cache hooks for it): set it to 0")
    return interval


def _decode(value: Any, facts: ModelFacts) -> str:
    decode = _choice("decode", value or "full", DECODES)
    if decode == "fast" and not facts.fast_decoder:
        raise InvalidRequest("decode", f"the model library names no fast decoder (TAESD) for {facts.name}'s family "
                                       f"({facts.family}): decode in full, or name one under fast_decoders in models.yaml")
    return decode


def _guidance(request: GenerationRequest, facts: ModelFacts, high: float) -> float:
    """The run's guidance; for FLUX.1, Forge's `distilled_cfg_scale` when a client sends it (its cfg_scale is 1)."""
    if facts.family == "flux" and request.distilled_guidance is not None:
        return _number("distilled_cfg_scale", request.distilled_guidance, integer=False, low=0, high=high)
    value = facts.default_guidance if request.guidance_scale is None else request.guidance_scale
    return _number("guidance_scale", value, integer=False, low=0, high=high)


def _transformer_rules(request: GenerationRequest, facts: ModelFacts, family) -> list[str]:
    """What a diffusion transformer (SD 3, FLUX.1) cannot do, refused by field; returns the samplers it can use."""
    label = family.label
    if request.tiling not in (None, False, "False"):
        raise InvalidRequest("tiling", f"seamless tiling pads a UNet's convolutions; {facts.name} is {label}, a "
                                       "transformer without them: turn tiling off")
    if request.image_prompts:
        raise InvalidRequest("image_prompts", f"IP-Adapter image prompts are made for SD 1.x and SDXL UNets; "
                                              f"{facts.name} is {label}: remove the image prompts")
    hires = request.hires
    upscaler = getattr(hires, "upscaler", None) or ""
    if hires is not None and facts.family == "flux" and (upscaler in hires_fix.LATENT_MODES or upscaler == ""):
        raise InvalidRequest("hr_upscaler", f"the Latent upscalers resize SD latents; {label}'s are packed in "
                                            "patches: choose an image upscaler (Lanczos, or a model such as ESRGAN)")
    return list(family.samplers)


def _image_prompts(units: Any, limits: Limits) -> list[ImagePrompt]:
    """The IP-Adapter reference pictures, decoded; whether each adapter fits the model is checked as it loads."""
    if units in (None, [], ()):
        return []
    if not isinstance(units, (list, tuple)):
        raise InvalidRequest("image_prompts", "must be a list of reference pictures")
    if len(units) > limits.max_image_prompts:
        raise InvalidRequest("image_prompts", f"at most {limits.max_image_prompts} reference pictures, got {len(units)}")
    checked = []
    for i, unit in enumerate(units):
        where = f"image_prompts[{i}]"
        if not isinstance(unit, ImagePrompt):
            raise InvalidRequest(where, "must be a reference picture with its weight and mode")
        if unit.model not in (None, "", "Automatic") and not isinstance(unit.model, str):
            raise InvalidRequest(f"{where}.model", f"must be an IP-Adapter's name, got {type(unit.model).__name__}")
        checked.append(ImagePrompt(
            image=load_picture(f"{where}.image", unit.image, limits),
            weight=_number(f"{where}.weight", unit.weight, integer=False, low=0, high=2),
            mode=_choice(f"{where}.mode", unit.mode, IMAGE_PROMPT_MODES),
            model=None if unit.model in (None, "", "Automatic") else unit.model))
    return checked


def _refiner(request: GenerationRequest, resolved: GenerationRequest, facts: ModelFacts, task: str,
             warnings: list[str]) -> str | None:
    """The refiner's name, or None; its own family is checked where it is found (the manager)."""
    if request.refiner in (None, "", "None"):
        return None
    if not isinstance(request.refiner, str):
        raise InvalidRequest("refiner", f"must be a model's name, got {type(request.refiner).__name__}")
    if facts.family != "sdxl":
        label = FAMILIES[facts.family].label if facts.family in FAMILIES else facts.family
        raise InvalidRequest("refiner", f"a refiner finishes SDXL pictures; {facts.name} is {label}, not an SDXL model")
    if task not in ("txt2img", "img2img"):
        raise InvalidRequest("refiner", f"the refiner is for text to image and image to image, not {task}")
    resolved.refiner_switch_at = _number("refiner_switch_at", request.refiner_switch_at, integer=False, low=0.01,
                                         high=1)
    if resolved.refiner_switch_at == 1:  # A1111's too: the switch comes after the last step
        warnings.append("refiner_switch_at: at 1 the model makes every step; the refiner was not used")
        return None
    return request.refiner


def series_numbers(request: GenerationRequest, limits: Limits = Limits()) -> tuple[int, int, int, float]:
    """Batch size, seed, variation seed and its strength, checked before a batch is split into one run per
    picture (wildcards draw a prompt per picture); `validate` checks each of those runs in full."""
    return (_number("batch_size", request.batch_size, integer=True, low=1, high=limits.max_batch),
            _number("seed", request.seed, integer=True, low=-1, high=MAX_SEED),
            _number("subseed", request.subseed, integer=True, low=-1, high=MAX_SEED),
            _number("subseed_strength", request.subseed_strength, integer=False, low=0, high=1))


# the numbers each plot axis takes; a cell's own check (validate) then holds each value to the model's limits
_PLOT_BOUNDS = {"Seed": (-1, MAX_SEED), "Var. seed": (-1, MAX_SEED), "Var. strength": (0, 1), "Steps": (1, 10_000),
                "Hires steps": (0, 10_000), "CFG Scale": (0, 30), "Clip skip": (1, MAX_CLIP_SKIP),
                "Denoising": (0, 1), "LoRA weight": (-20, 20), "Refiner switch at": (0.01, 1)}
_TRUE = ("true", "yes", "y", "1")


def validate_plot(plot: Any, request: GenerationRequest, choices: dict[str, list[str]],
                  limits: Limits = Limits()) -> list[tuple[xyz_plot.Axis, list]]:
    """The X, Y and Z axes of an X/Y/Z plot with their values typed, as A1111 reads them (ranges expanded,
    names matched to the lists in `choices`); raises InvalidRequest naming x_type, x_values, y_type, ..."""
    if not isinstance(plot, Plot):
        raise InvalidRequest("plot", "must be an X/Y/Z plot's axes")
    task = request.task
    axes, taken = [], {}
    for name, given in zip("xyz", (plot.x, plot.y, plot.z)):
        given = given if isinstance(given, PlotAxis) else PlotAxis()
        label = xyz_plot.label_of(given.type, task)
        axis = _plot_axis(f"{name}_type", label, request, task)
        if axis.label != xyz_plot.NOTHING:
            if axis.label in taken:
                raise InvalidRequest(f"{name}_type", f"{axis.label} is the {taken[axis.label].upper()} axis already")
            taken[axis.label] = name
        axes.append((axis, _plot_values(f"{name}_values", axis, given.values, request, choices)))
    if all(axis.label == xyz_plot.NOTHING for axis, _ in axes):
        raise InvalidRequest("x_type", "choose what the X axis changes (Steps, CFG Scale, Prompt S/R, ...)")
    batch = _number("batch_size", request.batch_size, integer=True, low=1, high=limits.max_batch)
    cells = math.prod(len(values) for _, values in axes)
    if cells * batch > limits.max_plot_pictures:
        longest = max(range(3), key=lambda i: len(axes[i][1]))
        counts = " x ".join(str(len(values)) for _, values in axes)
        raise InvalidRequest(f"{'xyz'[longest]}_values",
                             f"the plot would make {cells * batch} pictures ({counts} cells x batch size {batch}); the "
                             f"limit is {limits.max_plot_pictures}: use fewer values")
    return axes


def _plot_axis(field: str, label: Any, request: GenerationRequest, task: str) -> xyz_plot.Axis:
    if label in ("", None):
        label = xyz_plot.NOTHING
    offered = xyz_plot.offered(task)
    if label not in xyz_plot.AXES:
        a1111 = any(label in listed for listed in xyz_plot.INDEXED.values())
        why = (f"A1111's {label!r} axis changes a setting Easel does not have" if a1111
               else f"{label!r} is not an axis type")
        raise InvalidRequest(field, f"{why}; Easel's are: {', '.join(offered)}")
    if label not in offered:
        raise InvalidRequest(field, f"{label} is for text to image with the hires fix; this is {task}")
    if label in xyz_plot.HIRES_AXES and request.hires is None:
        raise InvalidRequest(field, f"{label} changes the hires fix's second pass: turn the hires fix on")
    if label == "Denoising" and task == "txt2img" and request.hires is None:
        raise InvalidRequest(field, "Denoising changes image to image's strength, or the hires fix's: turn it on")
    if label == "LoRA weight" and not xyz_plot.has_lora(request.prompt):
        raise InvalidRequest(field, "LoRA weight sets the weight of the prompt's <lora:name:weight> tags; it has none")
    return xyz_plot.AXES[label]


def _plot_values(field: str, axis: xyz_plot.Axis, given: Any, request: GenerationRequest,
                 choices: dict[str, list[str]]) -> list:
    if axis.kind == "nothing":
        return [None]
    if isinstance(given, (list, tuple)) and all(isinstance(v, str) for v in given):  # a dropdown's choices
        values = [v.strip() for v in given]
    elif isinstance(given, str):
        values = xyz_plot.split_values(given)
    else:
        raise InvalidRequest(field, f"must be text: values separated by commas, got {type(given).__name__}")
    values = [v for v in values if v != ""]
    if not values:
        raise InvalidRequest(field, f"{axis.label} needs values, separated by commas (ranges such as 10-30 (+10))")
    if axis.kind in ("int", "float"):
        low, high = _PLOT_BOUNDS[axis.label]
        return [_number(field, v, integer=axis.kind == "int", low=low, high=high)
                for v in xyz_plot.expand_ranges(values, axis.kind)]
    if axis.kind == "permutations":
        missing = [v for v in values if v not in request.prompt]
        if missing:
            raise InvalidRequest(field, f"Prompt order: {missing[0]!r} is not in the prompt")
        import itertools

        return list(itertools.permutations(values))
    label = axis.label
    if label == "Prompt S/R":
        if values[0] not in (request.prompt or "") and values[0] not in (request.negative_prompt or ""):
            raise InvalidRequest(field, f"Prompt S/R did not find {values[0]!r} in the prompt or the negative prompt; "
                                        "the first value is the text each value replaces")
        return values
    if label == "Size":
        return [_plot_size(field, v) for v in values]
    if label == "Face restore":
        restorers = choices.get("restorer", [])
        chosen = []
        for v in values:
            named = next((r for r in restorers if r.lower() == v.lower()), None)
            default = "GFPGAN" if "GFPGAN" in restorers else (restorers[0] if restorers else "GFPGAN")
            chosen.append(named or (default if v.lower() in _TRUE else None))
        return chosen
    if label == "Styles":
        known = choices.get("style", [])
        for v in values:
            if v not in known:
                raise InvalidRequest(field, f"no style {v!r} in styles.csv" + (f"; there are: {', '.join(known)}" if known else ""))
        return [[v] for v in values]
    if label == "Refiner checkpoint":  # A1111's "None" runs the cell without one
        return [None if v.lower() == "none" else _plot_choice(field, v, choices.get("model", []), label)
                for v in values]
    if label == "VAE":
        return [_plot_choice(field, v, choices.get("vae", []), label) if v.lower() not in ("none", "automatic", "auto")
                else None for v in values]
    return [_plot_choice(field, v, choices.get(axis.choices, []), label) for v in values]


def _plot_choice(field: str, value: str, known: list[str], label: str) -> str:
    """A name as A1111 matches it: exactly, then ignoring case, a file's extension and a trailing [hash]."""
    if value in known:
        return value
    bare = re.sub(r"\s*\[[0-9a-fA-F]+\]$", "", Path(value).name)
    bare = re.sub(r"\.(safetensors|ckpt|pt|pth|bin)$", "", bare, flags=re.IGNORECASE).lower()
    for name in known:
        if name.lower() == bare or name.lower() == value.lower():
            return name
    raise InvalidRequest(field, f"{label}: {value!r} is not one of: {', '.join(known)}")


def _plot_size(field: str, value: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*(?:[x×*]\s*(\d+))?\s*", value)
    if not match:
        raise InvalidRequest(field, f"Size: {value!r} is not a size; write width x height, such as 512x768")
    width = int(match.group(1))
    return width, int(match.group(2) or width)


def _resolve_detailer(given: Detailer, resolved: GenerationRequest, task: str, samplers, limits: Limits,
                      warnings: list[str]) -> Detailer | None:
    """The detailer's units, checked by ADetailer's field names (`ad_confidence`; `detailer[1].ad_confidence` for
    the second unit); units whose model is "None" are off, as in ADetailer."""
    if task not in ("txt2img", "img2img"):
        raise InvalidRequest("adetailer", f"the detailer runs after text to image and image to image, not {task}")
    units = given.units if isinstance(given.units, (list, tuple)) else None
    if units is None or not all(isinstance(unit, DetailerUnit) for unit in units):
        raise InvalidRequest("adetailer", "must be a list of detailer units")
    if len(units) > detailing.MAX_UNITS:
        raise InvalidRequest("adetailer", f"takes at most {detailing.MAX_UNITS} units, got {len(units)}")
    checked = [_detailer_unit(unit, index, resolved, samplers, limits, warnings)
               for index, unit in enumerate(units) if str(unit.model).strip() not in ("", "None")]
    skip = bool(given.skip_img2img)
    if skip and task != "img2img":
        warnings.append("ad_skip_img2img: skipping the main pass is for image to image; the picture was made")
        skip = False
    return Detailer(units=checked, skip_img2img=skip) if checked else None


def _detailer_unit(unit: DetailerUnit, index: int, resolved: GenerationRequest, samplers, limits: Limits,
                   warnings: list[str]) -> DetailerUnit:
    def name(field: str) -> str:
        return f"ad_{field}" if index == 0 else f"detailer[{index}].ad_{field}"

    def number(field: str, low, high, integer=True):
        return _number(name(field), getattr(unit, field), integer=integer, low=low, high=high)

    model = unit.model
    if isinstance(model, str) and model not in detailing.DETECTORS and detailing.is_face_model(model):
        warnings.append(f"{name('model')}: Easel finds faces with {detailing.DETECTORS[0]} instead of {model}")
        model = detailing.DETECTORS[0]
    if isinstance(model, str) and model.lower().startswith(("hand_", "person_", "yolo")):
        raise InvalidRequest(name("model"), f"Easel's detailer finds faces ({', '.join(detailing.DETECTORS)}); it has "
                                            f"no detector for {model} yet")
    model = _choice(name("model"), model, detailing.DETECTORS)
    if not isinstance(unit.inpaint_only_masked, bool):
        raise InvalidRequest(name("inpaint_only_masked"), f"must be true or false, got {unit.inpaint_only_masked!r}")
    checked = DetailerUnit(
        model=model, prompt=_text(name("prompt"), unit.prompt or "", limits, warnings),
        negative_prompt=_text(name("negative_prompt"), unit.negative_prompt or "", limits, warnings),
        confidence=number("confidence", 0, 1, integer=False), mask_k_largest=number("mask_k_largest", 0, 10),
        mask_min_ratio=number("mask_min_ratio", 0, 1, integer=False),
        mask_max_ratio=number("mask_max_ratio", 0, 1, integer=False),
        x_offset=number("x_offset", -limits.max_side, limits.max_side),
        y_offset=number("y_offset", -limits.max_side, limits.max_side),
        dilate_erode=number("dilate_erode", -128, 128),
        mask_merge_invert=_choice(name("mask_merge_invert"), unit.mask_merge_invert, detailing.MERGE_MODES),
        mask_blur=number("mask_blur", 0, 64),
        denoising_strength=number("denoising_strength", 0, 1, integer=False),
        inpaint_only_masked=unit.inpaint_only_masked,
        inpaint_only_masked_padding=number("inpaint_only_masked_padding", 0, 256),
        inpaint_width=number("inpaint_width", 0, limits.max_side),
        inpaint_height=number("inpaint_height", 0, limits.max_side),
        steps=number("steps", 0, limits.max_steps),
        cfg_scale=None if unit.cfg_scale is None else number("cfg_scale", 0, 30, integer=False),
        sampler=None if unit.sampler in (None, "", "Use same sampler") else _choice(name("sampler"), unit.sampler,
                                                                                    samplers),
    )
    if checked.mask_min_ratio > checked.mask_max_ratio:
        raise InvalidRequest(name("mask_min_ratio"), f"{checked.mask_min_ratio:g} is above the max ratio "
                                                     f"{checked.mask_max_ratio:g}: no find could be kept")
    for field in ("inpaint_width", "inpaint_height"):
        side = getattr(checked, field)
        if side and (side < 64 or side % 8):
            raise InvalidRequest(name(field), f"must be 0 (the picture's size) or a multiple of 8 from 64, got {side}")
    steps = checked.steps or resolved.steps
    if int(steps * checked.denoising_strength) < 1:
        raise InvalidRequest(name("denoising_strength"), f"{checked.denoising_strength:g} x {steps} steps leaves no "
                                                         "step to run; raise it or the steps")
    return checked


def _resolve_outpaint(request: GenerationRequest, resolved: GenerationRequest, task: str, picture: Image.Image,
                      limits: Limits, warnings: list[str]) -> tuple[Image.Image, GenerationRequest]:
    """The grown canvas, and the request with the canvas's mask (the new area, and what was painted if any)."""
    if task != "inpaint":
        raise InvalidRequest("outpaint", f"outpainting paints through the inpaint path; task is {task!r}")
    given = request.outpaint
    sides = {side: _number(f"outpaint_{side}", getattr(given, side), integer=True, low=0,
                           high=outpainting.MAX_PIXELS) for side in outpainting.SIDES}
    if not any(sides.values()):
        raise InvalidRequest("outpaint_left", "no side grows: give pixels to add on the left, right, top or bottom")
    checked = Outpaint(**sides, fill=_choice("outpaint_fill", given.fill, outpainting.FILLS),
                       color_variation=_number("outpaint_color_variation", given.color_variation, integer=False,
                                               low=0, high=1))
    width, height = outpainting.canvas_size(picture.width, picture.height, checked)
    for length, (first, second) in ((width, ("left", "right")), (height, ("up", "down"))):
        if length > limits.max_side:
            grown = first if sides[first] >= sides[second] else second
            raise InvalidRequest(f"outpaint_{grown}", f"would make the {picture.width}x{picture.height} picture "
                                                      f"{width}x{height}, over the limit of {limits.max_side} pixels a side")
    if width * height > limits.max_pixels:
        raise InvalidRequest("outpaint_left", f"would make the {picture.width}x{picture.height} picture {width}x"
                                              f"{height}, over the limit of {limits.max_pixels:,} pixels per image")
    for name, value, length in (("width", request.width, width), ("height", request.height, height)):
        if value not in (None, length):
            warnings.append(f"{name}: outpainting paints the whole canvas, {width}x{height}; {value} was not used")
    resolved.width, resolved.height, resolved.outpaint = width, height, checked
    mask_blur = _number("mask_blur", request.mask_blur, integer=True, low=0, high=64)
    canvas, mask = outpainting.extend(picture, checked, mask_blur)
    if request.mask is not None:  # what was painted on the picture is repainted too
        painted = load_picture("mask", request.mask, limits, mode="L").resize(picture.size, Image.Resampling.NEAREST)
        grown = Image.new("L", canvas.size, 0)
        grown.paste(painted.point(lambda value: 255 if value > 0 else 0), outpainting.inside(picture.size, checked))
        mask = ImageChops.lighter(mask, grown)
    if request.invert_mask:
        warnings.append("invert_mask: outpainting paints the new area; the mask was not inverted")
    if request.inpaint_only_masked:
        warnings.append("inpaint_only_masked: outpainting paints the whole canvas, not only the masked area")
    resolved.invert_mask = resolved.inpaint_only_masked = False
    return canvas, dataclasses.replace(request, image=canvas, mask=mask, invert_mask=False, inpaint_only_masked=False)


def _seed_resize(name: str, value: Any, limits: Limits) -> int:
    """A1111's seed_resize_from_w/h: 0 (or A1111's -1) is off, else a size from 64 to the largest side."""
    side = _number(name, value, integer=True, low=-1, high=limits.max_side)
    if side <= 0:
        return 0
    if side < 64:
        raise InvalidRequest(name, f"must be 0 (off) or from 64 to {limits.max_side}, got {side}")
    return side


def _switch(name: str, value: Any) -> bool:
    """An on/off field: a bool, or the "True"/"False" of a parameters text."""
    if value in (None, False, "False", "false"):
        return False
    if value in (True, "True", "true"):
        return True
    raise InvalidRequest(name, f"must be true or false, got {value!r}")


def _vae(value: Any, vaes) -> str | None:
    if value in (None, "", "Automatic", "None"):  # A1111's names for "the model's own VAE"
        return None
    return _choice("vae", value, list(vaes))


def _styles(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest("styles", "must be a list of style names")
    return list(value)


def _resolve_size(resolved: GenerationRequest, init_image, facts: ModelFacts, limits: Limits) -> None:
    for name in ("width", "height"):
        value = getattr(resolved, name)
        if value is None:
            if init_image is not None:  # keep the picture's own size, within the limits
                side = init_image.width if name == "width" else init_image.height
                value = _round_down_to_8(min(side, limits.max_side))
                if value < 64:
                    raise InvalidRequest(name, f"the picture is {init_image.width}x{init_image.height}, under 64 "
                                               f"pixels in {name}: set the width and height to generate at")
            else:
                value = facts.default_size
        value = _number(name, value, integer=True, low=64, high=limits.max_side)
        if value % 8:
            raise InvalidRequest(name, f"must be a multiple of 8, got {value} (try {_round_down_to_8(value)})")
        setattr(resolved, name, value)
    if resolved.width * resolved.height > limits.max_pixels:
        raise InvalidRequest(
            "width", f"{resolved.width}x{resolved.height} is over the limit of {limits.max_pixels:,} pixels per image"
        )


def _resolve_mask(request, resolved, init_image, limits, warnings) -> Image.Image:
    if request.mask is None:
        raise InvalidRequest("mask", "is missing: paint the area to repaint, or upload a mask")
    mask = load_picture("mask", request.mask, limits, mode="L")
    if init_image is not None and mask.size != init_image.size:
        warnings.append(f"mask: resized from {mask.width}x{mask.height} to the image's {init_image.width}x{init_image.height}")
        mask = mask.resize(init_image.size, Image.Resampling.NEAREST)
    mask = fit_picture(mask, resolved.width, resolved.height, resolved.resize_mode)
    # Anything painted counts, however faint: browsers blend brush edges.
    mask = mask.point(lambda value: 255 if value > 0 else 0)
    if request.invert_mask:
        mask = ImageOps.invert(mask)
    if mask.getextrema()[1] == 0:
        raise InvalidRequest("mask", "nothing is painted: paint the area to repaint")
    if mask.getextrema()[0] == 255 and request.invert_mask:
        raise InvalidRequest("mask", "the inverted mask covers the whole picture: paint the area to keep")
    return mask


def _controlnet_task_supported(facts: ModelFacts, resolved: GenerationRequest) -> None:
    """SD 3's ControlNets paint from text only: diffusers has no image-to-image or inpaint ControlNet pipeline for it."""
    supported = CONTROLNET_TASKS.get(facts.family)
    if supported is None:
        return
    done = "inpaint" if resolved.mask is not None else "img2img" if resolved.image is not None else "txt2img"
    if done not in supported:
        field = "mask" if done == "inpaint" else "image"
        raise InvalidRequest(field, f"{FAMILIES[facts.family].label}'s ControlNets paint from text only; remove the "
                                    f"starting picture{' and mask' if done == 'inpaint' else ''}")


def _resolve_control_units(units, facts: ModelFacts, resolved: GenerationRequest, limits: Limits) -> list[ControlUnit]:
    if not units:
        raise InvalidRequest("control_units", "add at least one ControlNet unit with a type and a control image")
    if len(units) > limits.max_control_units:
        raise InvalidRequest("control_units", f"at most {limits.max_control_units} units at once, got {len(units)}")
    checked = []
    for i, unit in enumerate(units):
        prefix = f"control_units[{i}]." if len(units) > 1 else ""
        if isinstance(unit, dict):
            unit = ControlUnit(**unit)
        families = facts.control_types.get(unit.control_type, [])
        if unit.model is None and facts.family not in families:
            if families:  # the type exists, but only for other model families
                raise InvalidRequest(
                    prefix + "control_type",
                    f"the library's {unit.control_type} ControlNet is for {' and '.join(families)}, "
                    f"but {facts.name} is {facts.family}: choose a {facts.family} model or another type",
                )
            available = ", ".join(sorted(t for t, f in facts.control_types.items() if facts.family in f)) or "none"
            raise InvalidRequest(
                prefix + "control_type",
                f"unknown type {unit.control_type!r} for {facts.name} ({facts.family}); available: {available}",
            )
        image = load_picture(prefix + "control_image", unit.image, limits)
        scale = _number(prefix + "conditioning_scale", unit.conditioning_scale, integer=False, low=0, high=2)
        start = _number(prefix + "start", unit.start, integer=False, low=0, high=1)
        end = _number(prefix + "end", unit.end, integer=False, low=0, high=1)
        if start >= end:
            raise InvalidRequest(prefix + "end", f"must be after start ({start:g}), got {end:g}")
        default = CONTROL_TYPES[unit.control_type].preprocessor if unit.control_type in CONTROL_TYPES else PASS_THROUGH
        preprocessor = _choice(prefix + "preprocessor", unit.preprocessor or default, PREPROCESSORS)
        if preprocessor == "inpaint" and resolved.mask is None:
            raise InvalidRequest("mask", "the inpaint ControlNet needs a mask: paint the area to repaint")
        params = _preprocessor_parameters(preprocessor, unit.preprocessor_params, prefix)
        checked.append(dataclasses.replace(unit, image=image, conditioning_scale=scale, start=start, end=end,
                                           preprocessor=preprocessor, preprocessor_params=params))
    return checked


def _preprocessor_parameters(preprocessor: str, params: Any, prefix: str) -> dict:
    """Check the numbers a user set for a preprocessor (thresholds and the like); others are ignored."""
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise InvalidRequest(prefix + "preprocessor_params", "must be a mapping of names to numbers")
    allowed = {**PREPROCESSOR_PARAMETERS.get(preprocessor, {}), "detect_resolution": DETECT_RESOLUTION}
    checked = {}
    for name, value in params.items():
        if name in allowed:  # a UI may send every preprocessor's settings: keep the ones that apply
            default, low, high = allowed[name]
            checked[name] = _number(prefix + name, value, integer=isinstance(default, int), low=low, high=high)
    if preprocessor == "canny":
        low = checked.get("low_threshold", allowed["low_threshold"][0])
        if low > checked.get("high_threshold", allowed["high_threshold"][0]):
            raise InvalidRequest(prefix + "low_threshold", "must not be above high_threshold")
    return checked


def _resolve_hires(request: GenerationRequest, resolved: GenerationRequest, samplers, upscalers, limits: Limits,
                   warnings: list[str]) -> HiresFix:
    """The hires fix's fields, with A1111's API names in the messages, and the final size within the limits."""
    hires = request.hires
    if isinstance(hires, dict):
        hires = HiresFix(**hires)
    upscaler = hires_fix.DEFAULT_UPSCALER if hires.upscaler in (None, "") else hires.upscaler
    checked = HiresFix(
        upscaler=_choice("hr_upscaler", upscaler, [*hires_fix.LATENT_MODES, *upscalers]),
        resize_x=_resize_side("hr_resize_x", hires.resize_x, limits),
        resize_y=_resize_side("hr_resize_y", hires.resize_y, limits),
        scale=_number("hr_scale", 2.0 if hires.scale is None else hires.scale, integer=False, low=1,
                      high=MAX_UPSCALE),
        steps=_number("hr_second_pass_steps", hires.steps or 0, integer=True, low=0, high=limits.max_steps),
        sampler=None if hires.sampler in (None, "", "Use same sampler") else _choice("hr_sampler_name", hires.sampler,
                                                                                   samplers),
        prompt=_text("hr_prompt", hires.prompt, limits, warnings),
        negative_prompt=_text("hr_negative_prompt", hires.negative_prompt, limits, warnings),
    )
    resolved.strength = _number("denoising_strength", request.strength, integer=False, low=0, high=1)
    steps = checked.steps or resolved.steps
    if resolved.strength == 0 or int(steps * resolved.strength) < 1:
        raise InvalidRequest("denoising_strength", f"{resolved.strength:g} x {steps} hires steps leaves no step to run; "
                                                   "raise the denoising strength or the hires steps")
    size = hires_fix.sizes(resolved.width, resolved.height, checked)
    field = "hr_resize_x" if checked.resize_x or checked.resize_y else "hr_scale"
    width, height = size.final
    if max(*size.cover, width, height) > limits.max_side:
        raise InvalidRequest(field, f"the hires pass would be {size.cover[0]}x{size.cover[1]}; the largest side "
                                    f"allowed is {limits.max_side} pixels")
    if width * height > limits.max_pixels:
        raise InvalidRequest(field, f"the hires pass would be {width}x{height}, over the limit of "
                                    f"{limits.max_pixels:,} pixels per image")
    return checked


def _resize_side(name: str, value: Any, limits: Limits) -> int:
    side = _number(name, value or 0, integer=True, low=0, high=limits.max_side)
    if 0 < side < 64:
        raise InvalidRequest(name, f"must be 0 (keep the shape) or from 64 to {limits.max_side}, got {side}")
    return side


MAX_UPSCALE = 8  # A1111's "Resize" slider for extras goes to 8
UPSCALED_SIDE_FACTOR = 4  # an upscaled picture may be this many times the largest side a generation may have


def validate_extras(request: ExtrasRequest, upscalers: list[str], restorers: list[str],
                    limits: Limits) -> ExtrasRequest:
    """A resolved copy of an Extras request (picture decoded, the factor of a "scale to" worked out as A1111 does),
    or InvalidRequest naming the field. `restorers`: the face restorers that have a model file."""
    picture = load_picture("image", request.image, limits)
    upscaler = _choice("upscaler", request.upscaler if request.upscaler not in (None, "") else "None", upscalers)
    resolved = dataclasses.replace(request, image=picture, upscaler=upscaler, upscaler_2=None, upscaler_2_visibility=0.0)
    largest = limits.max_side * UPSCALED_SIDE_FACTOR
    if request.resize_to:
        width, height = (_number(name, side, integer=True, low=1, high=largest)
                         for name, side in zip(("upscaling_resize_w", "upscaling_resize_h"), request.resize_to))
        resolved.resize_to = (width, height)
        resolved.scale = max(width / picture.width, height / picture.height)  # covers both sides, as A1111's does
        field = "upscaling_resize_w"
    else:
        resolved.scale = _number("scale", request.scale, integer=False, low=1, high=MAX_UPSCALE)
        field = "scale"
    if upscaler != "None" and max(picture.size) * resolved.scale > largest:
        raise InvalidRequest(field, f"would make the {picture.width}x{picture.height} picture "
                                    f"{round(picture.width * resolved.scale)}x{round(picture.height * resolved.scale)};"
                                    f" the largest side allowed is {largest} pixels")
    if request.upscaler_2 not in (None, "", "None"):
        visibility = _number("extras_upscaler_2_visibility", request.upscaler_2_visibility, integer=False, low=0, high=1)
        if visibility > 0:
            resolved.upscaler_2 = _choice("upscaler_2", request.upscaler_2, upscalers)
            resolved.upscaler_2_visibility = visibility
    for field, name in (("gfpgan_visibility", "GFPGAN"), ("codeformer_visibility", "CodeFormer")):
        visibility = _number(field, getattr(request, field) or 0, integer=False, low=0, high=1)
        setattr(resolved, field, visibility)
        if visibility > 0 and name not in restorers:
            folder = "GFPGAN" if name == "GFPGAN" else "Codeformer"
            raise InvalidRequest(field, f"needs a {name} model file, and none was found: put one (e.g. "
                                        f"{'GFPGANv1.4.pth' if name == 'GFPGAN' else 'codeformer-v0.1.0.pth'}) in "
                                        f"models/{folder}/ of a --models-dir folder")
    resolved.codeformer_weight = _number("codeformer_weight", 0.5 if request.codeformer_weight is None
                                         else request.codeformer_weight, integer=False, low=0, high=1)
    resolved.filters = _filters(request.filters)
    return resolved


def _filters(values: Any) -> dict[str, float]:
    from .filters import LIMITS

    if values is None:
        return {}
    if not isinstance(values, dict):
        raise InvalidRequest("filters", f"must be a mapping of filter names to amounts, got {type(values).__name__}")
    checked = {}
    for name, value in values.items():
        if name not in LIMITS:
            raise InvalidRequest("filters", f"has no filter {name!r}; choose from {', '.join(LIMITS)}")
        if value is not None:
            checked[name] = _number(name, value, integer=False, low=LIMITS[name][0], high=LIMITS[name][1])
    return checked


def _shown(number: float) -> str:
    """A number as the user typed or reads it: 4294967295, not 4.29497e+09; 7.5 stays 7.5."""
    return str(int(number)) if float(number).is_integer() else f"{number:.6g}"
