"""Where saved pictures go: one folder a day under the outputs folder, named by time and seed.

Both the pages' runner (ui/runner.py) and the A1111 API's `save_images` (api/generation.py) save here, so
a user finds every picture the same way, whichever door made it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path


def picture_name(seed: int, suffix: str = ".png") -> str:
    return f"{datetime.now():%Y%m%d-%H%M%S-%f}-{seed}{suffix}"


def todays_folder(outputs: Path) -> Path:
    folder = outputs / f"{datetime.now():%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
