"""Easel's results turned into A1111's response: base64 pictures, the echoed request, and the `info` JSON text.

The pictures are in the `samples_format` option's format (PNG unless a client or --save-format chose
JPEG or WebP), each with its parameters, record and labels, as A1111 encodes them.

`info` holds what A1111's `Processed.js()` holds, in its order, so clients that read `info["seed"]`,
`all_seeds` or `infotexts` find them; `warnings` is Easel's own key, saying what was not done as asked.
"""

from __future__ import annotations

import json

from pipelines import parse_parameters, png_of

from .pictures import base64_text

# Infotext settings that have their own key in `info`; the others go to extra_generation_params.
_OWN_KEYS = {"Steps", "Sampler", "CFG scale", "Seed", "Size", "Model hash", "Model", "Version"}


def response(plan, results: list, job, send_maps: bool, files: list[bytes]) -> dict:
    """`files`: the pictures' files, in the `samples_format` option's format."""
    images = []
    if plan.send_images:
        images = [base64_text(data) for data in files]
        if results and send_maps:  # the detected maps after the pictures, as the ControlNet extension does
            images += [base64_text(png_of(control_map, "")) for control_map, save in
                       zip(results[0].control_maps, plan.control.save_maps) if save]
    return {"images": images, "parameters": plan.echo, "info": json.dumps(info(plan, results, job))}


def info(plan, results: list, job) -> dict:
    first = plan.requests[0]
    resolved = results[0].parameters if results else {}
    settings = parse_parameters(results[0].infotexts[0])["settings"] if results else {}
    seeds = [seed for result in results for seed in result.seeds]
    infotexts = [text for result in results for text in result.infotexts]
    # each picture's own prompts where a template drew them (wildcards), else the request's for all
    prompts = [p for r in results for p in (r.prompts or [r.parameters.get("prompt", first.prompt or "")] * len(r.seeds))]
    negatives = [p for r in results for p in (r.negative_prompts or
                                              [r.parameters.get("negative_prompt", first.negative_prompt or "")] * len(r.seeds))]
    warnings = list(dict.fromkeys([*plan.warnings, *(w for result in results for w in result.warnings)]))
    if job.interrupted:
        warnings.append(f"interrupted: {len(seeds)} of {len(plan.requests) * (first.batch_size or 1)} pictures were made")
    return {
        "prompt": prompts[0] if prompts else first.prompt or "",
        "all_prompts": prompts,
        "negative_prompt": negatives[0] if negatives else first.negative_prompt or "",
        "all_negative_prompts": negatives,
        "seed": seeds[0] if seeds else plan.seed,
        "all_seeds": seeds,
        "subseed": resolved.get("subseed", plan.subseed),
        # picture i's variation seed is the batch's plus i, as its seed is
        "all_subseeds": [_subseed(result.parameters.get("subseed", plan.subseed), i) for result in results
                         for i in range(len(result.seeds))],
        "subseed_strength": resolved.get("subseed_strength", 0),
        "width": resolved.get("width", first.width),
        "height": resolved.get("height", first.height),
        "sampler_name": resolved.get("sampler", first.sampler),
        "cfg_scale": resolved.get("guidance_scale", first.guidance_scale),
        "steps": resolved.get("steps", first.steps),
        "batch_size": resolved.get("batch_size", first.batch_size),
        "restore_faces": bool(resolved.get("restore_faces")),
        "face_restoration_model": resolved.get("restore_faces"),
        "sd_model_name": resolved.get("model", first.model),
        "sd_model_hash": settings.get("Model hash"),
        "sd_vae_name": None,
        "sd_vae_hash": None,
        "seed_resize_from_w": -1,
        "seed_resize_from_h": -1,
        "denoising_strength": resolved.get("strength") if first.image is not None or first.hires else None,
        "extra_generation_params": {k: v for k, v in settings.items() if k not in _OWN_KEYS},
        "index_of_first_image": 0,
        "infotexts": infotexts,
        "styles": [],
        "job_timestamp": job.timestamp,
        "clip_skip": 1,
        "is_using_inpainting_conditioning": first.task == "inpaint",
        "version": settings.get("Version"),
        "warnings": warnings,
    }


def _subseed(first: int, index: int) -> int:
    return first + index if first >= 0 else first  # -1: no variation seed was drawn
