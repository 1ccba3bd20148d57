"""One txt2img/img2img request from start to answer: plan, queue, the engine's runs, saved pictures, response."""

from __future__ import annotations

import logging
from pathlib import Path

from pipelines import SUFFIXES, GenerationCancelled, InvalidRequest, picture_bytes, pillow_format
from server.access import user_of
from server.outputs import picture_name
from server.picture_store import store_for

from .errors import message_of
from .jobs import Job
from .results import response
from .xyz_scripts import as_answered

log = logging.getLogger(__name__)


async def generate(context, plan, request) -> dict:
    job = Job(f"scripts_{plan.kind}", len(plan.requests))
    user = user_of(request.scope)
    owner = f"user:{user}" if user else None  # whose gallery the saved pictures join
    return await context.jobs.run(job, lambda: _answer(context, plan, job, owner), request)


def _answer(context, plan, job: Job, owner: str | None = None) -> dict:
    """In the job's thread: the runs, then saving and encoding the pictures, which take time too."""
    results = _run(context.manager, plan, job)
    file_format = context.options.samples_format
    saving = plan.save_images and context.outputs
    # Each picture is encoded (and signed) once, for both the outputs folder and the answer.
    files = ([picture_bytes(result, i, file_format) for result in results for i in range(len(result.images))]
             if saving or plan.send_images else [])
    if saving:
        pictures = [(result, i) for result in results for i in range(len(result.images))]
        _save(files, pictures, Path(context.outputs), file_format, plan.warnings, owner)
    send_maps = not context.options.as_dict().get("control_net_no_detectmap")
    return response(plan, results, job, send_maps, files)


def _run(manager, plan, job: Job) -> list:
    """Each batch in turn. Interrupt ends the job with the pictures made so far; skip drops the batch in progress."""
    results = []
    for iteration, request in enumerate(plan.requests):
        token = job.begin(iteration)
        try:
            result = manager.generate(request, on_step=job.on_step, on_preview=job.on_preview, cancel=token,
                                      on_status=job.on_status)
            results.append(as_answered(result, plan.plot_lone_images))
        except GenerationCancelled:
            if job.interrupted:
                break
        except InvalidRequest as error:  # the engine's field name, turned into the client's
            raise InvalidRequest(plan.client_field(error.field), message_of(error)) from None
    return results


def _save(files: list[bytes], pictures: list, outputs: Path, file_format: str, warnings: list[str],
          owner: str | None) -> None:
    """`save_images`: into the studio's outputs folder and its gallery, as its pages save; a failure is reported,
    not fatal."""
    suffix = SUFFIXES[pillow_format(file_format)]
    store = store_for(outputs)
    try:
        for data, (result, index) in zip(files, pictures):
            record = result.records[index] if result.records else {}
            store.save(data, picture_name(result.seeds[index], suffix), record, owner, result.infotexts[index])
    except OSError as error:
        log.warning("saving to %s failed: %s", outputs, error.strerror or type(error).__name__)
        warnings.append(f"save_images: could not save to the outputs folder ({error.strerror or error})")
