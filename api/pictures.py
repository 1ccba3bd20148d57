"""Pictures in A1111's JSON: base64 text in, base64 PNG out.

Requests carry pictures as base64, bare or as a `data:image/...;base64,` URL (webuiapi sends both kinds).
Only the base64 is undone here; the bytes go into the GenerationRequest as they are, so that the engine's
`load_picture` opens them with its size caps and gives the same messages as the studio's pages.
"""

from __future__ import annotations

import base64
import binascii

from pipelines import InvalidRequest


def decode_picture(field: str, text) -> bytes | None:
    """The file bytes of a base64 picture; None when there is none ("" or null)."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if not isinstance(text, str):
        raise InvalidRequest(field, f"must be a base64 picture (text), got {type(text).__name__}")
    if text.startswith(("http://", "https://")):
        # A1111 can fetch URLs; a studio that fetches what strangers name can be made to probe its network.
        raise InvalidRequest(field, "pictures are not fetched from URLs: send the picture itself as base64")
    if text.startswith("data:"):
        header, comma, text = text.partition(",")
        if not comma or ";base64" not in header:
            raise InvalidRequest(field, "is a data URL without base64 data")
    try:
        # Not strict, as A1111: line breaks and spaces in the text are skipped.
        data = base64.b64decode(text)
    except (binascii.Error, ValueError):
        raise InvalidRequest(field, "is not valid base64") from None
    if not data:
        raise InvalidRequest(field, "is empty")
    return data


def base64_text(png: bytes) -> str:
    """Raw base64, no data: prefix: webuiapi decodes the text as it comes."""
    return base64.b64encode(png).decode("ascii")
