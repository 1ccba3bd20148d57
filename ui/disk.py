"""Disk use of a studio that runs for weeks: the pictures and previews handed to the pages, and Gradio's cache.

Everything the pages show lives in Gradio's cache folder (GRADIO_TEMP_DIR, default /tmp/gradio), and both
parts of it are kept bounded:

- The runner's own folder there (`TempFiles`, one per process, removed at exit). Every picture is written
  there once, as PNG, and handed to the page: Gradio serves a file that is already in its cache as it is,
  without a copy of its own. Each file sits in a folder named by the time it was made and a random token, so
  nobody can guess the address of another user's picture. At the end of each run the folder keeps the newest
  KEEP_PICTURES pictures, none older than PICTURE_MAX_AGE, and the newest KEEP_PREVIEWS live previews. The
  folder itself is the record (one listing per run): a run in another process (ZeroGPU runs each in a forked
  worker) prunes it the same. Deleting them is ours to do: Gradio forgets the files it hands out through a
  component a run has updated (every run does: an update, `gr.skip()` too, gives the session a copy of the
  component, and Gradio's pruning never sees that copy's files), so its copies of them would pile up.
  A session's History points at these files, and the runner drops the entries whose file is gone: History
  shows every picture still kept, and KEEP_PICTURES is ten full Histories (100 each).
- The rest of Gradio's cache: uploads, and what Gradio saves for other components. `delete_cache=
  CACHE_PRUNING` on the Blocks has Gradio delete, every hour, those it made more than a day ago (History's
  pictures too, once it has shown them: a day, as here). Gradio deletes the files but not the folder each one
  sits in (named by its hash), so the runner removes such folders once empty, at most once per CACHE_PRUNING
  period.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import time
import weakref
from pathlib import Path

from gradio.utils import get_upload_folder

KEEP_PICTURES = 1000  # pictures kept for the pages, the newest
KEEP_PREVIEWS = 100  # live previews kept, the newest (a few runs' worth: each is shown until the next)
PICTURE_MAX_AGE = 24 * 3600  # seconds a picture is kept at most
# Gradio's delete_cache: (every how many seconds it looks, age in seconds of the files it deletes). Looking
# hourly costs nothing; a day keeps uploads and History's pictures as long as the runner keeps its own.
CACHE_PRUNING = (3600, 24 * 3600)
EMPTY_FOLDER_GRACE = 60  # seconds a folder of Gradio's cache stays after it emptied (Gradio may reuse it)

_HASH_FOLDER = re.compile(r"[0-9a-f]{64}")  # Gradio names each cached file's folder by a SHA-256
_STAMP_DIGITS = 16  # a file's folder starts with the time it was made, in microseconds: names sort by age


def cache_pruning(max_age: int | None = None) -> tuple[int, int]:
    """`delete_cache` for the Blocks: CACHE_PRUNING, or files older than `max_age` seconds."""
    if max_age is None:
        return CACHE_PRUNING
    return min(CACHE_PRUNING[0], max_age), max_age


class TempFiles:
    """The pictures and previews this process hands to its pages, in a folder of its own in Gradio's cache."""

    def __init__(self, cache: str | None = None, keep: int | None = None, max_age: float | None = None,
                 keep_previews: int | None = None, sweep_every: float | None = None):
        self.cache = Path(cache or get_upload_folder())
        self.cache.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix="easel-", dir=self.cache))
        self.keep = max(1, KEEP_PICTURES if keep is None else keep)
        self.keep_previews = max(1, KEEP_PREVIEWS if keep_previews is None else keep_previews)
        self.max_age = PICTURE_MAX_AGE if max_age is None else max_age
        self.sweep_every = CACHE_PRUNING[0] if sweep_every is None else sweep_every
        self.clock = time.time
        for kind in ("pictures", "previews"):
            (self.folder / kind).mkdir()
        self._swept = self.folder / "swept"  # its time says when the empty folders were last removed
        self._swept.touch()
        weakref.finalize(self, _remove, self.folder, os.getpid())  # at exit, or when dropped

    def path(self, name: str, kind: str = "pictures") -> Path:
        """Where to write a new file called `name`: in a folder of its own, named by the time and a token."""
        folder = self.folder / kind / f"{int(self.clock() * 1e6):0{_STAMP_DIGITS}d}-{secrets.token_hex(16)}"
        folder.mkdir()
        return folder / name

    def preview(self, picture) -> str:
        """Write a live preview (a PIL picture) and return its path."""
        path = self.path("preview.png", "previews")
        picture.save(path, format="PNG", compress_level=1)  # shown once: fast beats small
        return str(path)

    def written(self, paths: list) -> None:
        """After a run: delete the oldest pictures beyond `keep`, those past `max_age`, the oldest previews.
        A run's own pictures are never deleted by it, even when there are more than `keep` of them."""
        own = {Path(path).parent.name for path in paths}
        pictures = [name for name in _newest_first(self.folder / "pictures") if name not in own]
        too_old = int((self.clock() - self.max_age) * 1e6)
        kept = max(0, self.keep - len(own))
        for index, name in enumerate(pictures):
            if index >= kept or _made(name) < too_old:
                shutil.rmtree(self.folder / "pictures" / name, ignore_errors=True)
        for name in _newest_first(self.folder / "previews")[self.keep_previews:]:
            shutil.rmtree(self.folder / "previews" / name, ignore_errors=True)
        try:
            if self.clock() - self._swept.stat().st_mtime >= self.sweep_every:
                self._swept.touch()
                remove_empty_folders(self.cache, EMPTY_FOLDER_GRACE)
        except OSError:
            pass

    def holds(self, path) -> bool:
        return os.path.isfile(path)


def _newest_first(folder: Path) -> list[str]:
    try:
        return sorted(os.listdir(folder), reverse=True)
    except OSError:
        return []


def _made(name: str) -> int:
    try:
        return int(name[:_STAMP_DIGITS])
    except ValueError:
        return 0


def _remove(folder: Path, pid: int) -> None:
    if os.getpid() == pid:  # never from a forked worker (ZeroGPU's), whose runs end while the server goes on
        shutil.rmtree(folder, ignore_errors=True)


def remove_empty_folders(cache: Path, grace: float) -> int:
    """Remove the folders of Gradio's cache that are empty and have been for `grace` seconds; how many."""
    removed, now = 0, time.time()
    try:
        entries = list(os.scandir(cache))
    except OSError:
        return 0
    for entry in entries:
        try:
            if (_HASH_FOLDER.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False)
                    and now - entry.stat(follow_symlinks=False).st_mtime >= grace):
                os.rmdir(entry.path)  # refused unless empty: a file saved there since is never lost
                removed += 1
        except OSError:
            continue
    return removed
