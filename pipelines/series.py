"""Several requests run one after another as one generation: one progress bar over them all, one result.

Wildcards draw a prompt per picture (wildcards.py), so each picture is a request of its own; an X/Y/Z plot
makes one request per cell (xyz_plot.py). The caller sees one run and one result whose pictures keep their own
seeds, prompts, infotexts and records.
"""

from __future__ import annotations

import time
from typing import Callable

from .request import GenerationResult, StepInfo


def run(requests: list, generate: Callable, on_step: Callable | None = None) -> GenerationResult:
    """`generate(request, on_step)` for each request, in order; their results merged into one."""
    return merged([result for _, result in each(requests, generate, on_step)])


def each(requests: list, generate: Callable, on_step: Callable | None = None):
    """(index, result) of `generate(request, on_step)` for each request in turn, as each is made."""
    started = time.perf_counter()
    done = 0  # steps of the requests already made
    for index, request in enumerate(requests):
        generate_step = None
        last_total = [0]
        if on_step is not None:
            def generate_step(info: StepInfo, index=index, last_total=last_total):
                # the steps made so far over all of them, counting the rest as long as this one
                last_total[0] = info.total
                left = len(requests) - index - 1
                on_step(StepInfo(done + info.step, done + info.total * (1 + left), time.perf_counter() - started))
        yield index, generate(request, generate_step)
        done += last_total[0]


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
        prompts=[p for r in results for p in (r.prompts or [r.parameters["prompt"]] * len(r.images))],
        negative_prompts=[p for r in results
                          for p in (r.negative_prompts or [r.parameters["negative_prompt"]] * len(r.images))],
    )
