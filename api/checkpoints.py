"""Checkpoints as A1111 lists them, for the models of Easel's library.

A1111 titles a checkpoint "<file> [<hash>]"; Easel's library names its models. The title of a model
here is its library name (A1111 too titles a checkpoint by its name alone while its hash is unknown),
and a client may name a model by that name, by its file name, or by a title with a hash appended.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipelines import Library

_HASH_SUFFIX = re.compile(r"\s*\[[0-9a-fA-F]{8,64}\]$")


def checkpoint_list(library: Library) -> list[dict]:
    """GET /sdapi/v1/sd-models. `filename` is the file or folder name only: where the operator keeps models
    is not a stranger's business (A1111 gives the whole path)."""
    return [{"title": name, "model_name": name, "hash": None, "sha256": None, "filename": Path(entry.source).name,
             "config": None} for name, entry in library.models.items()]


def library_name(library: Library, text: str) -> str | None:
    """The library's name for a model a client names, or None when the library has no such model."""
    text = _HASH_SUFFIX.sub("", text.strip())
    if text in library.models:
        return text
    lowered = text.lower()
    for name, entry in library.models.items():
        source = Path(entry.source)
        if lowered in (name.lower(), source.name.lower(), source.stem.lower()):
            return name
    return None
