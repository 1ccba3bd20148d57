"""Disk stays bounded on a long-running app: fifty generations leave the newest pictures and previews on disk,
not all of them; Gradio prunes the rest of its cache as it ages; History still shows the pictures kept.

The studio runs once for the module, on the tiny models, in this process, with small caps and Gradio's cache
in a folder of its own (GRADIO_TEMP_DIR: Gradio reads it as each block is made, and in its routes, so it is
set for the module's lifetime and restored afterwards).
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from gradio_client import Client, handle_file

from pipelines.metadata import parse_parameters, read_parameters
from pipelines.request import GenerationRequest
from tests.live_app import live_app
from ui import disk
from ui.disk import TempFiles, remove_empty_folders
from ui.runner import Runner

KEEP, PREVIEWS = 10, 3  # pictures and live previews the studio keeps
PRUNING = (1, 2)  # Gradio looks every second and deletes the files it made more than 2 s ago
SLACK = 2  # files the bounds allow beyond the caps, for anything Gradio may add that this test does not know of
DEFAULT_PRUNING = disk.CACHE_PRUNING  # as the app has it, read before the studio below changes it
GRADIO_DEADLINE = 30  # seconds to wait for Gradio's pruning, which takes about PRUNING[0] + PRUNING[1]


def files_in(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def pictures_in(ours: Path) -> list[Path]:
    """The pictures in the runner's folder (beside them: previews/, and a file of its own)."""
    return files_in(ours / "pictures")


def seed_in(path) -> int:
    return parse_parameters(read_parameters(path))["seed"]


def wait_until(condition, what: str, deadline: float = GRADIO_DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"still not {what} after {deadline} s")
        time.sleep(0.1)  # Gradio's pruning is a timer of its own: nothing to wait on but the files


@pytest.fixture(scope="module")
def studio(tiny_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("disk")
    cache = root / "gradio-cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(cache))
        patch.setattr(disk, "KEEP_PICTURES", KEEP)
        patch.setattr(disk, "KEEP_PREVIEWS", PREVIEWS)
        patch.setattr(disk, "CACHE_PRUNING", PRUNING)
        patch.setattr(disk, "EMPTY_FOLDER_GRACE", 0)
        with live_app(tiny_dir, None) as app:
            [ours] = cache.glob("easel-*")  # the runner's folder, in Gradio's cache
            client = Client(app.url, verbose=False, download_files=str(root / "downloads"))
            examples = set(files_in(cache)) - set(files_in(ours))  # gr.Examples' pictures: Gradio keeps them
            yield SimpleNamespace(app=app, client=client, cache=cache, ours=ours, baseline=examples)


def census(studio) -> dict:
    everything = files_in(studio.cache)
    previews = [path for path in everything if path.name == "preview.png"]
    return {"pictures": len(pictures_in(studio.ours)), "previews": len(previews), "files": len(everything),
            "folders": sum(1 for path in studio.cache.rglob("*") if path.is_dir())}


@pytest.fixture(scope="module")
def fifty_runs(studio):
    """Fifty generations through the API, as a script would make them; the folders counted after each."""
    counts, galleries = [], []
    for i in range(50):
        steps = 12 if i % 5 == 0 else 1  # every fifth run lasts long enough for a live preview or two
        gallery, info, status = studio.client.predict(prompt=f"picture {i}", steps=steps, seed=i, api_name="/txt2img")
        counts.append(census(studio))
        galleries.append(gallery)
    return counts, galleries


def history_of(studio) -> list:
    """The client session's History, as its page would show it: the History gallery's answer to the change of
    the session's history (the page sends it at each run; a script's client does not, so it is sent here)."""
    demo = studio.app.demo
    [index] = [i for i, fn in demo.fns.items()
               if fn.fn is not None and fn.fn.__name__ == "show" and any(b.elem_id == "history" for b in fn.outputs)]
    answer = httpx.post(studio.app.url + "gradio_api/run/predict", timeout=30,
                        json={"fn_index": index, "data": [None], "session_hash": studio.client.session_hash})
    answer.raise_for_status()
    [gallery] = answer.json()["data"]
    return [item["image"] for item in gallery]


def url_of(studio, path) -> str:
    return f"{studio.app.url}gradio_api/file={path}"


def download(url: str) -> bytes:
    answer = httpx.get(url, timeout=30)
    assert answer.status_code == 200, url
    assert answer.content.startswith(b"\x89PNG"), url
    return answer.content


def test_gradio_prunes_its_cache_hourly_of_what_is_a_day_old(studio):
    assert DEFAULT_PRUNING == (3600, 24 * 3600)
    assert studio.app.demo.delete_cache == PRUNING  # the Blocks get what disk.py says


def test_fifty_generations_leave_the_newest_pictures_and_previews_and_nothing_else(studio, fifty_runs):
    counts, galleries = fifty_runs
    assert max(c["pictures"] for c in counts) == KEEP == counts[-1]["pictures"]  # full, and never more
    assert max(c["previews"] for c in counts) <= PREVIEWS
    ours = KEEP + PREVIEWS + 1  # and the file whose time says when empty folders were last removed
    assert max(c["files"] for c in counts) <= len(studio.baseline) + ours + SLACK, counts  # with the examples'
    # A folder for each file; and ours, with its two: pictures/ and previews/.
    assert max(c["folders"] for c in counts) <= len(studio.baseline) + 3 + KEEP + PREVIEWS + SLACK, counts
    for gallery, seed in zip(galleries[-KEEP:], range(50 - KEEP, 50)):  # the last pictures came down whole
        assert seed_in(gallery[0]["image"]) == seed and gallery[0]["caption"] == f"seed {seed}"


def test_history_still_shows_the_pictures_of_earlier_runs_after_pruning(studio, fifty_runs):
    kept = sorted(pictures_in(studio.ours))
    # Served as they are from the runner's folder (Gradio makes no copies of them). Downloaded before History
    # shows them: from then on Gradio counts them too, and deletes them 2 s after they were made (a day, in
    # the app), which the oldest of them already are.
    for path in kept:
        download(url_of(studio, path))
    shown = history_of(studio)
    # The ten newest pictures, newest first: the entries whose files were pruned are gone, none is broken.
    assert [seed_in(item["path"]) for item in shown] == list(range(49, 49 - KEEP, -1))
    assert sorted(Path(item["path"]) for item in shown) == kept
    assert all(item["url"] == url_of(studio, item["path"]) for item in shown)


def test_gradio_deletes_what_it_counts_and_history_then_skips_the_files_that_went(studio, fifty_runs):
    picture = pictures_in(studio.ours)[0]
    studio.client.predict(handle_file(str(picture)), api_name="/png_info")  # an upload into Gradio's cache
    [upload] = [path for path in files_in(studio.cache)
                if studio.ours not in path.parents and path not in studio.baseline]
    shown = [Path(item["path"]) for item in history_of(studio)]  # Gradio counts the pictures History shows
    wait_until(lambda: not upload.exists() and not any(path.exists() for path in shown),
               "deleted by Gradio's delete_cache")
    assert upload.parent.is_dir()  # Gradio leaves the upload's folder, empty

    gallery, info, status = studio.client.predict(prompt="after pruning", steps=1, seed=77, api_name="/txt2img")
    assert not upload.parent.exists()  # the run removed the empty folder
    [item] = history_of(studio)  # the pictures that went are skipped; the new one shows
    assert seed_in(item["path"]) == 77 and download(item["url"])
    assert set(files_in(studio.cache)) - set(files_in(studio.ours)) == studio.baseline  # nothing else stayed


def test_the_runner_keeps_the_newest_pictures_and_a_runs_own_and_history_drops_the_rest(manager, tmp_path):
    files = TempFiles(tmp_path, keep=2, max_age=3600)
    runner = Runner(manager, None, files=files)
    history = []
    for seed in (1, 2, 3):
        *_, history = list(runner.run(GenerationRequest(prompt="a", steps=1, seed=seed), history, lambda **k: None))[-1]
    assert [seed_in(path) for path, _ in history] == [3, 2]  # the first picture went, and left History
    assert len(pictures_in(files.folder)) == 2
    gallery, *_ = list(runner.run(GenerationRequest(prompt="b", steps=1, seed=9, batch_size=3), history,
                                  lambda **k: None))[-1]
    assert all(Path(path).is_file() for path, _ in gallery)  # a run's own pictures stay, beyond the cap
    assert len(pictures_in(files.folder)) == 3 == len(list((files.folder / "pictures").iterdir()))


def test_pictures_go_when_too_old_and_previews_beyond_their_cap(tmp_path):
    from PIL import Image

    files = TempFiles(tmp_path, keep=100, max_age=60, keep_previews=2)
    now = [0.0]
    files.clock = lambda: now[0]
    pictures = []
    for at in (0.0, 50.0, 100.0):  # a picture a run, the first one 100 s before the last
        now[0] = at
        pictures.append(files.path(f"{at:.0f}.png"))
        pictures[-1].write_bytes(b"picture")
        previews = [files.preview(Image.new("RGB", (8, 8), (int(at), i, 0))) for i in range(2)]
        files.written([pictures[-1]])
    assert [path.exists() for path in pictures] == [False, True, True]  # past 60 s, with its folder
    assert not pictures[0].parent.exists()
    assert sorted(path.name for path in (files.folder / "previews").iterdir()) == sorted(
        Path(path).parent.name for path in previews)  # the last run's two
    folder = files.folder
    del files
    assert not folder.exists()  # removed with its TempFiles (and at exit)


def test_only_empty_folders_named_like_gradios_go(tmp_path):
    empty, full, other = tmp_path / ("a" * 64), tmp_path / ("b" * 64), tmp_path / "deep_links"
    for folder in (empty, full, other):
        folder.mkdir()
    (full / "upload.png").write_bytes(b"picture")
    assert remove_empty_folders(tmp_path, grace=0) == 1
    assert not empty.exists() and full.exists() and other.exists()
    full.joinpath("upload.png").unlink()
    assert remove_empty_folders(tmp_path, grace=3600) == 0 and full.exists()  # emptied just now: it stays
