"""Uploaded pictures as the generation handlers receive them.

The generation events run with `preprocess=False`: Gradio still checks that a file was uploaded through
it (never a path a client made up), but it does not decode pictures or range-check numbers itself. Its
own checks answer "Value -3 is less than minimum value 1" or a bare "Error" for a broken file; ours
name the field and say what to do, and they live in one place, the engine's request validation.
"""

from __future__ import annotations

import base64
import binascii

from pipelines import InvalidRequest


def uploaded(payload, name: str):
    """The server-side path (or bytes) of an uploaded picture payload; None when nothing was uploaded."""
    if payload is None or isinstance(payload, (str, bytes)):
        return payload
    if not isinstance(payload, dict):
        raise InvalidRequest(name, f"must be an uploaded picture, got {type(payload).__name__}")
    if payload.get("path"):
        return payload["path"]
    url = payload.get("url") or ""
    if url.startswith("data:"):  # a picture sent inline as a data URL
        try:
            return base64.b64decode(url.partition(",")[2], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(name, "is a data URL that is not valid base64") from None
    raise InvalidRequest(name, "has no file: upload the picture again")
