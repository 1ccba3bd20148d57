"""The SDXL refiner, as A1111's `refiner_checkpoint` and `refiner_switch_at`: the model makes the first part of the
steps and hands its latents, still noisy, to the refiner, which makes the rest (diffusers' "ensemble of expert
denoisers": `denoising_end` on the model's pass, `denoising_start` on the refiner's image-to-image pass). With the
hires fix, the refiner finishes the second pass (A1111's default, "Hires fix: which pass to enable refiner for").

Both models are residency components like any other: the refiner's modules are placed on the device for its
pass, the model's moved off if the budget needs the room. One progress bar covers both passes.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from .hires import TwoPassProgress, chained
from .request import GenerationRequest

REFINER_FAMILIES = ("sdxl_refiner", "sdxl")  # what can finish an SDXL picture: the refiner, or another SDXL model


def handover(request: GenerationRequest) -> float:
    """Where in the noise schedule the refiner takes over, as diffusers' denoising_end/start count it.

    A1111 switches by the noise level too (its default since 1.8): at the first step whose timestep t has
    (999 - t) / 1000 >= refiner_switch_at, so the model keeps the steps with t >= 1000 x (1 - switch), which
    is diffusers' cut-off for denoising_end = switch. In image to image the run starts lower on the same scale:
    with strength at or under 1 - switch, every step is the refiner's."""
    return request.refiner_switch_at


def model_makes_no_step(request: GenerationRequest) -> bool:
    return request.image is not None and request.strength <= 1.0 - handover(request) + 1e-6


def refined_steps(request: GenerationRequest) -> int:
    """About how many steps the refiner makes (the progress bar's first guess)."""
    run = request.steps if request.image is None else int(request.steps * request.strength)
    share = (1.0 - handover(request)) / (request.strength if request.image is not None else 1.0)
    return max(1, min(run, round(run * share)))


def run(request: GenerationRequest, run_pass: Callable, refiner_base, on_step, prompts=None):
    """Both passes. `run_pass(request, on_step, latents, prompts, pass_seed, pass_base, arguments)` runs one pass
    and returns (pictures or latents, timings, offload mode, fallbacks, nsfw flags); `prompts`: the pass's own
    (the hires fix's second pass, which the refiner finishes as A1111's does by default)."""
    boundary = handover(request)
    refining = dataclasses.replace(request, task="img2img", freeu=False, pag_scale=0.0, control_units=[], mask=None,
                                   refiner=None)
    if model_makes_no_step(request):  # the picture starts below the handover: the refiner alone redraws it
        return run_pass(refining, on_step, False, prompts, pass_base=refiner_base)
    progress = TwoPassProgress(on_step, refined_steps(request))
    first = run_pass(request, progress.first, True, prompts, arguments={"denoising_end": boundary})
    # the refiner continues the same latents, on its own image-to-image view: no noise is added at the handover
    return chained(first, run_pass(dataclasses.replace(refining, image=first[0]), progress.second, False, prompts,
                                   pass_base=refiner_base, arguments={"denoising_start": boundary}))


def labels(request: GenerationRequest, refiner_base) -> dict:
    """A1111's infotext names: `Refiner: name [hash]` (its short title) and `Refiner switch at`."""
    if request.refiner is None or refiner_base is None:
        return {}
    title = f"{refiner_base.name} [{refiner_base.model_hash}]" if refiner_base.model_hash else refiner_base.name
    return {"Refiner": title, "Refiner switch at": request.refiner_switch_at}
