"""Several requests run one after another as one generation: one progress bar over them all, one result.

Wildcards draw a prompt per picture (wildcards.py), so each picture is a request of its own; the caller sees
one run and one result whose pictures keep their own seeds, prompts, infotexts and records.
"""

from __future__ import annotations

import time
from typing import Callable

from .request import GenerationResult, StepInfo


def run(requests: list, generate: Callable, on_step: Callable | None = None) -> GenerationResult:
    """`generate(request, on_step)` for each request, in order; their results merged into one."""
    results: list[GenerationResult] = []
    started = time.perf_counter()
    for index, request in enumerate(requests):
        generate_step = None
        if on_step is not None:
            def generate_step(info: StepInfo, index=index):
                # the run's steps so far over all of them, assuming the rest take as many as this one
                on_step(StepInfo(index * info.total + info.step, len(requests) * info.total,
                                 time.perf_counter() - started))
        results.append(generate(request, generate_step))
    return merged(results)


def merged(results: list[GenerationResult]) -> GenerationResult:
    first = results[0]
    timings: dict = {}
    for result in results:
        for key, seconds in result.timings.items():
            timings[key] = round(timings.get(key, 0.0) + seconds, 3)
    return GenerationResult(
        images=[image for r in results for image in r.images],
        seeds=[seed for r in results for seed in r.seeds],
        infotexts=[text for r in results for text in r.infotexts],
        parameters=first.parameters,
        control_maps=first.control_maps,
        timings=timings,
        offload_mode=results[-1].offload_mode,
        fallbacks=list(dict.fromkeys(f for r in results for f in r.fallbacks)),
        warnings=list(dict.fromkeys(w for r in results for w in r.warnings)),
        records=[record for r in results for record in r.records],
        credentials=first.credentials,
        prompts=[r.parameters["prompt"] for r in results for _ in r.images],
        negative_prompts=[r.parameters["negative_prompt"] for r in results for _ in r.images],
    )
