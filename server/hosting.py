"""Where the studio runs, as the platform says it: a Hugging Face Space, ZeroGPU hardware, persistent storage.

Spaces set SPACE_ID in every Space, SPACES_ZERO_GPU=true on ZeroGPU hardware (read the way the `spaces`
package reads it), and mount persistent storage, when the owner adds it, at /data. State that must
outlive a restart (the Content Credentials signing key, saved pictures, the demo's tiny models) lives
in `<data>/easel` when there is such a folder, else in ~/.cache/easel as on any machine.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger("easel")

SPACE_STORAGE = Path("/data")  # where Spaces mount persistent storage
LOCAL_STATE = Path.home() / ".cache" / "easel"


def on_spaces() -> bool:
    return bool(os.environ.get("SPACE_ID"))


def on_zerogpu() -> bool:
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")


def state_dir(chosen: str | None, source: str = "--data-dir") -> Path:
    """The folder for state that survives restarts (LOCAL_STATE when there is no usable persistent storage).

    `chosen` is the operator's folder (None: /data when it exists). A folder that cannot be written is
    said once, by name, and the studio keeps its state in ~/.cache/easel instead.
    """
    if chosen:
        root, named = Path(chosen).expanduser(), f"{source} {chosen}"
    elif SPACE_STORAGE.is_dir():
        root, named = SPACE_STORAGE, f"{SPACE_STORAGE} (the Space's persistent storage)"
    else:
        return LOCAL_STATE
    folder = root / "easel"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as error:
        log.warning("%s is not writable (%s): the signing key and saved pictures will not survive a restart. "
                    "Check the storage's permissions (on a Space: Settings > Persistent storage).",
                    named, error.strerror or error)
        return LOCAL_STATE
    return folder
