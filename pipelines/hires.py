"""Hires fix: AUTOMATIC1111's two-pass text to image, on the weights the first pass used.

The first pass draws the picture at the size asked; its latents (for the latent upscalers) or its pixels (for
Lanczos, Nearest or a model upscaler) are made larger, and an image-to-image pass over the same weights and
seeds redraws them at `Denoising strength`. The sizes, the names of the upscalers and the parameters text
are A1111's (modules/processing.py, StableDiffusionProcessingTxt2Img), so its pictures and PNG Info move
between the two programs: `Size` stays the first pass's, `Hires upscale` or `Hires resize` says the rest.

The manager hands `run` its way of running one pass and of upscaling a picture; the two passes, their
progress and the second pass's request are made here.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

from .request import GenerationRequest, HiresFix, StepInfo

# A1111's latent upscalers (modules/shared_items.py): name -> torch's interpolation mode, antialiased or not
LATENT_MODES = {
    "Latent": ("bilinear", False),
    "Latent (antialiased)": ("bilinear", True),
    "Latent (bicubic)": ("bicubic", False),
    "Latent (bicubic antialiased)": ("bicubic", True),
    "Latent (nearest)": ("nearest", False),
    "Latent (nearest-exact)": ("nearest-exact", False),
}
DEFAULT_UPSCALER = "Latent"  # A1111's default when none is named
LATENT_FACTOR = 8  # pixels per latent cell: the final size is a multiple of it, as A1111's is


@dataclasses.dataclass(frozen=True)
class Sizes:
    cover: tuple[int, int]  # what the first pass is upscaled to (width, height)
    final: tuple[int, int]  # the picture's size: `cover` cut to the asked shape, in whole latent cells


def sizes(width: int, height: int, hires: HiresFix) -> Sizes:
    """A1111's calculate_target_resolution: by `scale`, or to `resize_x` x `resize_y` (either alone keeps the
    shape; both: upscale to cover, then cut the middle)."""
    x, y = hires.resize_x or 0, hires.resize_y or 0
    if not x and not y:
        cover = (int(width * hires.scale), int(height * hires.scale))
        target = cover
    elif not y:
        cover = target = (x, x * height // width)
    elif not x:
        cover = target = (y * width // height, y)
    else:
        target = (x, y)
        cover = (x, x * height // width) if width / height < x / y else (y * width // height, y)
    final = tuple(max(LATENT_FACTOR, side - side % LATENT_FACTOR) for side in target)
    return Sizes(cover, final)


def labels(request: GenerationRequest) -> dict:
    """The parameters text's hires entries, with A1111's names and in its order."""
    hires = request.hires
    added = {}
    if hires.resize_x or hires.resize_y:
        added["Hires resize"] = f"{hires.resize_x}x{hires.resize_y}"
    else:
        added["Hires upscale"] = hires.scale
    if hires.steps:
        added["Hires steps"] = hires.steps
    added["Hires upscaler"] = hires.upscaler
    if hires.sampler and hires.sampler != request.sampler:
        added["Hires sampler"] = hires.sampler
    if hires.prompt and hires.prompt != request.prompt:
        added["Hires prompt"] = hires.prompt
    if hires.negative_prompt and hires.negative_prompt != request.negative_prompt:
        added["Hires negative prompt"] = hires.negative_prompt
    return added


def from_infotext(parsed: dict) -> dict | None:
    """The hires settings of a parsed parameters text (metadata.parse_parameters), by Txt2Img's field names, or
    None when the picture was made in one pass. Raw strings; the engine's validation judges them."""
    settings = parsed.get("settings", {})
    if not any(key.startswith("Hires ") for key in settings):
        return None
    found = {"enable_hr": True, "hr_upscaler": settings.get("Hires upscaler", DEFAULT_UPSCALER),
             "hr_second_pass_steps": settings.get("Hires steps", 0),
             "hr_sampler_name": settings.get("Hires sampler"), "hr_prompt": settings.get("Hires prompt", ""),
             "hr_negative_prompt": settings.get("Hires negative prompt", ""),
             "denoising_strength": settings.get("Denoising strength")}
    if "Hires resize" in settings:
        x, _, y = settings["Hires resize"].partition("x")
        found.update(hr_resize_x=x, hr_resize_y=y, hr_scale=None)
    else:
        found.update(hr_scale=settings.get("Hires upscale", 2), hr_resize_x=0, hr_resize_y=0)
    return found


def second_steps(request: GenerationRequest) -> int:
    """The steps the second pass runs: its steps (or the first pass's) times the strength, as diffusers counts."""
    steps = request.hires.steps or request.steps
    return max(1, min(int(steps * request.strength), steps))


def upscale_latents(latents, request: GenerationRequest):
    """The first pass's latents interpolated to the cover size, then cut to the final size around the middle."""
    import torch

    size = sizes(request.width, request.height, request.hires)
    mode, antialias = LATENT_MODES[request.hires.upscaler]
    cells = (size.cover[1] // LATENT_FACTOR, size.cover[0] // LATENT_FACTOR)
    # in float32: half-precision bicubic and antialiasing are missing on some devices
    larger = torch.nn.functional.interpolate(latents.float(), size=cells, mode=mode,
                                             antialias=antialias).to(latents.dtype)
    rows, columns = size.final[1] // LATENT_FACTOR, size.final[0] // LATENT_FACTOR
    top, left = (cells[0] - rows) // 2, (cells[1] - columns) // 2
    return larger[:, :, top:top + rows, left:left + columns]


def second_request(request: GenerationRequest, start) -> GenerationRequest:
    """The image-to-image request of the second pass: from `start` (latents or pictures) at the final size."""
    hires = request.hires
    width, height = sizes(request.width, request.height, hires).final
    return dataclasses.replace(request, task="img2img", image=start, width=width, height=height,
                               steps=hires.steps or request.steps, sampler=hires.sampler or request.sampler,
                               prompt=hires.prompt or request.prompt,
                               negative_prompt=hires.negative_prompt or request.negative_prompt,
                               hires=None, control_units=[])


def second_prompts(request: GenerationRequest, first, warnings: list[str]) -> tuple[str, str]:
    """The second pass's prompts as the text encoder reads them. `first` is the run's networks (networks.py),
    whose prompts are the first pass's without their tags: the first prompt's LoRAs act on both passes, so a
    hires prompt naming others is told so (A1111 would switch them between the passes)."""
    from .prompt_syntax import extract_networks

    hires = request.hires
    prompt, negative = first.prompt, first.negative
    if hires.prompt:
        prompt, tags = extract_networks(hires.prompt, field="hr_prompt")
        _, first_tags = extract_networks(request.prompt, field="prompt")
        if {tag.text for tag in tags} != {tag.text for tag in first_tags}:
            warnings.append("hr_prompt: its LoRA tags differ from the prompt's; Easel applies the prompt's LoRAs "
                            "to both passes")
    if hires.negative_prompt:
        negative = extract_networks(hires.negative_prompt, field="hr_negative_prompt")[0]
    return prompt, negative


class TwoPassProgress:
    """One progress bar over both passes: the second pass's steps are counted from the start, as A1111 does."""

    def __init__(self, on_step: Callable[[StepInfo], None] | None, planned_second: int):
        self.on_step, self.planned_second = on_step, planned_second
        self.started = time.perf_counter()
        self.first_total = 0

    def first(self, info: StepInfo) -> None:
        self.first_total = info.total
        self._report(info.step, info.total + self.planned_second)

    def second(self, info: StepInfo) -> None:
        self._report(self.first_total + info.step, self.first_total + info.total)

    def _report(self, step: int, total: int) -> None:
        if self.on_step is not None:
            self.on_step(StepInfo(step, total, time.perf_counter() - self.started))


def run(request: GenerationRequest, run_pass: Callable, upscale_picture: Callable, on_step, prompts: tuple[str, str],
        second_pass: Callable | None = None):
    """Both passes. `run_pass(request, on_step, latents, prompts)` runs one pass and returns (pictures or latents,
    timings, offload mode, fallbacks, nsfw flags); `upscale_picture(picture, upscaler, scale)` is the engine's upscaler;
    `prompts` are the second pass's prompt and negative prompt as the text encoder reads them; `second_pass(request,
    on_step, prompts)`, if given, makes the second pass in its place (the refiner finishing it, as A1111 does)."""
    from PIL import ImageOps

    hires = request.hires
    in_latents = hires.upscaler in LATENT_MODES
    progress = TwoPassProgress(on_step, second_steps(request))
    first_pass = run_pass(request, progress.first, in_latents)
    first = first_pass[0]
    started = time.perf_counter()
    size = sizes(request.width, request.height, hires)
    if in_latents:
        start = upscale_latents(first, request)
    else:
        scale = max(size.cover[0] / request.width, size.cover[1] / request.height)
        start = [ImageOps.fit(upscale_picture(picture, hires.upscaler, scale), size.final)
                 for picture in first]
    upscale_seconds = time.perf_counter() - started
    second = second_request(request, start)
    pictures, timings, mode, fallbacks, flags = chained(
        first_pass, second_pass(second, progress.second, prompts) if second_pass is not None
        else run_pass(second, progress.second, False, prompts))
    timings["hires_upscale"] = round(upscale_seconds, 3)
    return pictures, timings, mode, fallbacks, flags


def chained(first: tuple, second: tuple) -> tuple:
    """Two passes' results (pictures or latents, timings, offload mode, fallbacks, nsfw flags) as one run's: the
    second's pictures and offload mode, both passes' times added up, their fallbacks and safety flags together."""
    _, timings, _mode, fallbacks, nsfw = first
    pictures, second_timings, mode, second_fallbacks, second_nsfw = second
    timings = {key: round(timings.get(key, 0) + second_timings.get(key, 0), 3) for key in ("denoise", "decode")}
    flags = [a or b for a, b in zip(nsfw, second_nsfw)] if len(nsfw) == len(second_nsfw) else second_nsfw
    return pictures, timings, mode, fallbacks + second_fallbacks, flags
