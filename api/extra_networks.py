"""LoRAs, embeddings, VAEs and styles as A1111's API lists them, and its Refresh routes.

The lists come from the model folders (--models-dir) and styles.csv. As /sd-models does, a file is given
by its name, not its whole path: where the operator keeps models is not a stranger's business.
"""

from __future__ import annotations

import json
import struct

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool


def lora_list(library) -> list[dict]:
    """GET /sdapi/v1/loras: A1111's `name`, `alias` (its training name when the file says, else the name),
    `path` and `metadata` (the safetensors header's metadata, as A1111 reads it)."""
    answer = []
    for name, found in sorted(library.loras().items()):
        metadata = safetensors_metadata(found.path)
        answer.append({"name": name, "alias": metadata.get("ss_output_name") or name, "path": found.path.name,
                       "metadata": metadata})
    return answer


def safetensors_metadata(path) -> dict:
    """The `__metadata__` of a safetensors file's header ({} for another file or a broken one)."""
    if path.suffix.lower() != ".safetensors":
        return {}
    try:
        with open(path, "rb") as file:
            (length,) = struct.unpack("<Q", file.read(8))
            if length > 100 * 2**20:  # a header this big is not a LoRA's
                return {}
            header = json.loads(file.read(length))
    except (OSError, ValueError, struct.error):
        return {}
    metadata = header.get("__metadata__", {}) if isinstance(header, dict) else {}
    return {str(k): v for k, v in metadata.items()} if isinstance(metadata, dict) else {}


def vae_list(library) -> list[dict]:
    return [{"model_name": name, "filename": found.path.name} for name, found in sorted(library.vaes().items())]


def style_list(library) -> list[dict]:
    return [{"name": s.name, "prompt": s.prompt, "negative_prompt": s.negative_prompt}
            for s in library.styles().values()]


def extra_network_routes(router: APIRouter, context) -> None:
    library = context.manager.library  # read at each call: a refresh replaces what it found

    router.add_api_route("/loras", lambda: lora_list(library), methods=["GET"])
    router.add_api_route("/sd-vae", lambda: vae_list(library), methods=["GET"])
    router.add_api_route("/prompt-styles", lambda: style_list(library), methods=["GET"])

    @router.get("/embeddings")
    async def embeddings():
        # which embeddings fit is read from the model the API generates with (loading it, as A1111 has it loaded)
        return await run_in_threadpool(context.manager.embedding_report, context.options.model)

    def refresh():
        library.refresh()
        return None

    for path in ("/refresh-checkpoints", "/refresh-vae", "/refresh-loras", "/refresh-embeddings"):
        router.add_api_route(path, refresh, methods=["POST"])
