"""One txt2img/img2img request from start to answer: plan, queue, the engine's runs, saved pictures, response."""

from __future__ import annotations

import logging
from pathlib import Path

from pipelines import SUFFIXES, GenerationCancelled, InvalidRequest, picture_bytes, pillow_format
from server.outputs import picture_name, todays_folder

from .errors import message_of
from .jobs import Job
from .results import response

log = logging.getLogger(__name__)


async def generate(context, plan, request) -> dict:
    job = Job(f"scripts_{plan.kind}", len(plan.requests))
    return await context.jobs.run(job, lambda: _answer(context, plan, job), request)


def _answer(context, plan, job: Job) -> dict:
    """In the job's thread: the runs, then saving and encoding the pictures, which take time too."""
    results = _run(context.manager, plan, job)
    file_format = context.options.samples_format
    saving = plan.save_images and context.outputs
    # Each picture is encoded (and signed) once, for both the outputs folder and the answer.
    files = ([picture_bytes(result, i, file_format) for result in results for i in range(len(result.images))]
             if saving or plan.send_images else [])
    if saving:
        seeds = [seed for result in results for seed in result.seeds]
        _save(files, seeds, Path(context.outputs), file_format, plan.warnings)
    send_maps = not context.options.as_dict().get("control_net_no_detectmap")
    return response(plan, results, job, send_maps, files)


def _run(manager, plan, job: Job) -> list:
    """Each batch in turn. Interrupt ends the job with the pictures made so far; skip drops the batch in progress."""
    results = []
    for iteration, request in enumerate(plan.requests):
        token = job.begin(iteration)
        try:
            results.append(manager.generate(request, on_step=job.on_step, on_preview=job.on_preview, cancel=token,
                                            on_status=job.on_status))
        except GenerationCancelled:
            if job.interrupted:
                break
        except InvalidRequest as error:  # the engine's field name, turned into the client's
            raise InvalidRequest(plan.client_field(error.field), message_of(error)) from None
    return results


def _save(files: list[bytes], seeds: list[int], outputs: Path, file_format: str, warnings: list[str]) -> None:
    """`save_images`: into the studio's outputs folder, as its pages save; a failure is reported, not fatal."""
    suffix = SUFFIXES[pillow_format(file_format)]
    try:
        folder = todays_folder(outputs)
        for data, seed in zip(files, seeds):
            (folder / picture_name(seed, suffix)).write_bytes(data)
    except OSError as error:
        log.warning("saving to %s failed: %s", outputs, error.strerror or type(error).__name__)
        warnings.append(f"save_images: could not save to the outputs folder ({error.strerror or error})")
