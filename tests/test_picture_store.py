"""The gallery database (server/picture_store.py): what a user finds in the gallery after saving, searching,
restarting, crashing, sharing the studio, and when the database itself is broken."""

from __future__ import annotations

import io
import logging
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from pipelines.metadata import exif_with_parameters, save_png
from server import picture_store
from server.outputs import todays_folder
from server.picture_store import PictureStore

ROOT = Path(__file__).resolve().parent.parent
INFOTEXT = "a cat\nNegative prompt: dog\nSteps: 2, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 64x64, Model: tiny"


def png(infotext: str | None = None, shade: int = 0) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (8, 8), (shade, 0, 0))
    if infotext is None:
        image.save(buffer, format="PNG")
    else:
        save_png(image, buffer, infotext)
    return buffer.getvalue()


def jpeg(infotext: str | None = None) -> bytes:
    buffer = io.BytesIO()
    options = {"exif": exif_with_parameters(infotext)} if infotext else {}
    Image.new("RGB", (8, 8), (0, 0, 200)).save(buffer, format="JPEG", **options)
    return buffer.getvalue()


def parameters(prompt: str, model: str = "tiny", seed: int = 1, negative: str = "") -> dict:
    return {"prompt": prompt, "negative_prompt": negative, "model": model, "seed": seed, "steps": 2}


@pytest.fixture
def clock(monkeypatch):
    """The store's clock, moved on by hand: one second a call, so 'newest first' and dates are exact."""
    now = [1_700_000_000.0]

    def tick() -> float:
        now[0] += 1
        return now[0]

    monkeypatch.setattr(picture_store, "time", SimpleNamespace(time=tick))
    return now


@pytest.fixture
def outputs(tmp_path) -> Path:
    return tmp_path / "outputs"


@pytest.fixture
def store(outputs):
    opened = PictureStore(outputs)
    yield opened
    opened.close()


def prompts(entries) -> list[str]:
    return [entry.prompt for entry in entries]


def run_child(script: str, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, *map(str, arguments)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


# ---------------------------------------------------------------------- saving and finding


def test_a_saved_picture_is_in_the_gallery_with_its_parameters_and_file(store, outputs, clock):
    data = png(INFOTEXT)
    entry = store.save(data, "00001-5.png", parameters("a cat", seed=5, negative="dog"), None, infotext=INFOTEXT)

    assert entry.path == todays_folder(outputs) / "00001-5.png" and entry.path.read_bytes() == data
    assert (entry.prompt, entry.negative, entry.model, entry.seed) == ("a cat", "dog", "tiny", 5)
    assert entry.infotext == INFOTEXT and entry.record["steps"] == 2 and not entry.favourite
    assert store.search(None) == ([entry], 1)
    assert store.get(entry.id, None) == entry
    assert [path.name for path in entry.path.parent.iterdir()] == ["00001-5.png"]  # no temporary file left
    assert (outputs / "gallery.sqlite").is_file() and store.error is None


def test_easels_own_picture_record_gives_the_columns_too(store, clock):
    record = {"schema": "easel.generation", "model": {"name": "sdxl.safetensors", "source": "file"},
              "parameters": {"prompt": "a lighthouse", "negative_prompt": "fog", "seed": 42}}
    entry = store.save(png(), "a.png", record, "alice")

    assert (entry.prompt, entry.negative, entry.model, entry.seed, entry.owner) == \
        ("a lighthouse", "fog", "sdxl.safetensors", 42, "alice")


def test_pictures_come_newest_first_a_page_at_a_time_with_the_total(store, clock):
    for number in range(5):
        store.save(png(shade=number), f"{number}.png", parameters(f"picture {number}"), None)

    pages = [store.search(None, page=page, per_page=2) for page in range(4)]

    assert [prompts(entries) for entries, _ in pages] == [["picture 4", "picture 3"], ["picture 2", "picture 1"],
                                                          ["picture 0"], []]
    assert {total for _, total in pages} == {5}


def test_search_finds_pictures_by_the_words_of_their_prompts(store, clock):
    store.save(png(), "1.png", parameters("a red fox in the snow"), None)
    store.save(png(), "2.png", parameters("a cat on a mat", negative="blurry fox"), None)
    store.save(png(), "3.png", parameters("Café au lait"), None)

    assert prompts(store.search(None, "fox")[0]) == ["a cat on a mat", "a red fox in the snow"]  # negative too
    assert prompts(store.search(None, "snow red")[0]) == ["a red fox in the snow"]  # all words, any order
    assert prompts(store.search(None, "ca")[0]) == ["Café au lait", "a cat on a mat"]  # the word being typed
    assert prompts(store.search(None, "CAFE")[0]) == ["Café au lait"]
    assert store.search(None, "dog") == ([], 0)


@pytest.mark.parametrize("text", ['"', '*', '-foo', 'a:b', '(', ')', 'NEAR', 'NEAR(cat mat)', 'cat AND', 'OR cat',
                                  'NOT', '"cat', 'prompt:cat', '^cat', 'cat*', '{prompt}: cat', "c'at", '""""', '+'])
def test_search_syntax_typed_by_a_user_is_searched_for_literally(store, clock, text):
    store.save(png(), "1.png", parameters("a cat on a mat"), None)

    entries, total = store.search(None, text)

    assert len(entries) == total and store.error is None


def test_search_characters_never_change_what_words_mean(store, clock):
    store.save(png(), "1.png", parameters("a cat on a mat"), None)
    store.save(png(), "2.png", parameters("a dog"), None)

    assert prompts(store.search(None, "-cat")[0]) == ["a cat on a mat"]  # a word, not "without cat"
    assert store.search(None, "prompt:cat") == ([], 0)  # the words "prompt" and "cat", not a column filter
    assert store.search(None, "cat OR dog") == ([], 0)  # all three words, "or" included
    assert store.search(None, "(")[1] == 2  # nothing to search for: everything


def test_pictures_are_filtered_by_model_date_and_favourite(store, clock):
    old = store.save(png(), "1.png", parameters("old", model="sd15"), None)
    middle = clock[0] + 0.5
    new = store.save(png(), "2.png", parameters("new", model="sdxl"), None)

    assert prompts(store.search(None, model="sdxl")[0]) == ["new"]
    assert prompts(store.search(None, since=middle)[0]) == ["new"]
    assert prompts(store.search(None, until=middle)[0]) == ["old"]
    assert store.search(None, favourites_only=True) == ([], 0)
    assert store.set_favourite(old.id, None, True)
    assert prompts(store.search(None, favourites_only=True)[0]) == ["old"]
    assert store.set_favourite(old.id, None, False) and store.search(None, favourites_only=True)[1] == 0
    assert store.models(None) == ["sd15", "sdxl"] and new.id != old.id


def test_each_owner_sees_only_their_own_pictures_and_no_owner_sees_all(store, clock):
    alices = [store.save(png(), f"a{n}.png", parameters(f"alice {n}", model="sd15"), "alice") for n in range(2)]
    bobs = store.save(png(), "b.png", parameters("bob", model="sdxl"), "bob")

    assert prompts(store.search("alice")[0]) == ["alice 1", "alice 0"]
    assert store.search("bob") == ([bobs], 1)
    assert store.search(None)[1] == 3
    assert store.search("carol") == ([], 0)
    assert store.models("bob") == ["sdxl"]
    # bob can neither see, favourite nor delete alice's
    assert store.get(alices[0].id, "bob") is None
    assert not store.set_favourite(alices[0].id, "bob", True)
    assert not store.delete(alices[0].id, "bob") and alices[0].path.exists()
    assert not store.get(alices[0].id, "alice").favourite


def test_delete_removes_the_file_and_the_row_and_a_second_delete_is_harmless(store, clock):
    kept = store.save(png(), "kept.png", parameters("kept"), None)
    gone = store.save(png(), "gone.png", parameters("gone"), None)
    removed_by_hand = store.save(png(), "by-hand.png", parameters("by hand"), None)

    assert store.delete(gone.id, None)
    assert not gone.path.exists() and store.get(gone.id, None) is None
    assert not store.delete(gone.id, None)
    removed_by_hand.path.unlink()
    assert store.delete(removed_by_hand.id, None)  # its file already gone: the row goes all the same
    assert store.search(None) == ([kept], 1) and kept.path.exists()


# ---------------------------------------------------------------------- restarts and crashes


def test_the_gallery_survives_a_restart(outputs, clock):
    first = PictureStore(outputs)
    saved = [first.save(png(), f"{n}.png", parameters(f"picture {n}"), "alice") for n in range(3)]
    first.set_favourite(saved[0].id, "alice", True)
    saved[1].path.unlink()  # deleted outside the studio while it was stopped
    first.close()

    again = PictureStore(outputs)

    entries, total = again.search("alice")
    assert prompts(entries) == ["picture 2", "picture 0"] and total == 2
    assert entries[1].favourite and entries[1].id == saved[0].id
    again.close()


CRASHING_WRITER = """
import os, sys
from pathlib import Path
from server import picture_store

moment, outputs, picture, name = sys.argv[1:]
store = picture_store.PictureStore(Path(outputs))
if moment == "after-rename":  # the picture has its name, the row is not written yet
    picture_store.PictureStore._record_row = lambda *arguments, **named: os._exit(1)
else:  # half the picture is written to its temporary file
    def write_half(path, data):
        with open(path, "wb") as file:
            file.write(data[: len(data) // 2])
            file.flush()
        os._exit(1)
    picture_store._write_fully = write_half
store.save(Path(picture).read_bytes(), name, {"prompt": "from the record"}, "alice")
print("not killed")
"""


def test_a_crash_while_saving_loses_no_picture_and_leaves_no_half_written_one(outputs, tmp_path):
    picture = tmp_path / "picture.png"
    picture.write_bytes(png(INFOTEXT))
    PictureStore(outputs).close()
    for moment, name in (("after-rename", "renamed.png"), ("while-writing", "half.png")):
        crashed = run_child(CRASHING_WRITER, moment, outputs, picture, name)
        assert crashed.returncode == 1 and "not killed" not in crashed.stdout, crashed.stderr
    folder = todays_folder(outputs)
    partial_files = [path for path in folder.iterdir() if path.name.endswith(".partial")]
    assert [path.name.startswith(".half.png.") for path in partial_files] == [True]
    assert (folder / "renamed.png").read_bytes() == picture.read_bytes()

    restarted = PictureStore(outputs)

    assert sorted(path.name for path in folder.iterdir()) == ["renamed.png"]
    (entry,), total = restarted.search(None)
    assert total == 1 and entry.path == folder / "renamed.png"
    # read back from the picture itself: its infotext, not the record the crashed writer held
    assert (entry.prompt, entry.negative, entry.model, entry.seed, entry.owner) == ("a cat", "dog", "tiny", 5, None)
    assert entry.infotext == INFOTEXT
    restarted.close()


def test_a_temporary_file_another_running_process_writes_is_left_alone(outputs):
    folder = todays_folder(outputs)
    being_written = folder / f".x.png.{os.getppid()}-0000.partial"  # our parent: alive
    being_written.write_bytes(b"half")

    PictureStore(outputs).close()

    assert being_written.exists()


# ---------------------------------------------------------------------- many users at once


def test_sixteen_users_saving_at_once_lose_nothing(store, outputs):
    start = threading.Barrier(16)
    failures = []

    def user(number: int) -> None:
        start.wait()
        for n in range(5):
            if store.save(png(shade=n), f"user{number}-{n}.png", parameters(f"user {number}"), f"user{number}") is None:
                failures.append((number, n))

    threads = [threading.Thread(target=user, args=(number,)) for number in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    entries, total = store.search(None, per_page=100)
    assert failures == [] and total == 80 and store.error is None
    assert len([path for path in todays_folder(outputs).iterdir() if path.suffix == ".png"]) == 80
    assert all(entry.path.exists() for entry in entries)
    assert {store.search(f"user{number}")[1] for number in range(16)} == {5}


SECOND_PROCESS = """
import sys
from pathlib import Path
from server.picture_store import PictureStore

store = PictureStore(Path(sys.argv[1]))
print("ready", flush=True)
sys.stdin.readline()
saved = [store.save(Path(sys.argv[2]).read_bytes(), f"other-{n}.png", {"prompt": "other process"}, "other")
         for n in range(20)]
print(sum(entry is not None for entry in saved), store.error)
"""


def test_a_second_process_saving_to_the_same_gallery_at_the_same_time(store, tmp_path):
    picture = tmp_path / "picture.png"
    picture.write_bytes(png())
    other = subprocess.Popen([sys.executable, "-c", SECOND_PROCESS, str(store.outputs_dir), str(picture)], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline() == "ready\n"
        other.stdin.write("go\n")
        other.stdin.flush()
        saved = [store.save(png(), f"this-{n}.png", parameters("this process"), "this") for n in range(20)]
        out, err = other.communicate(timeout=60)
    finally:
        other.kill()
        other.wait()

    assert out.split() == ["20", "None"], err
    assert None not in saved and store.error is None
    assert store.search("other")[1] == 20 and store.search("this")[1] == 20 and store.search(None)[1] == 40


# ---------------------------------------------------------------------- a broken database


def test_a_corrupt_database_is_said_and_pictures_are_still_saved(outputs, caplog):
    outputs.mkdir()
    database = outputs / "gallery.sqlite"
    database.write_bytes(b"this is not a database, only garbage " * 200)

    with caplog.at_level(logging.WARNING, logger=picture_store.__name__):
        store = PictureStore(outputs)
        saved = store.save(png(), "kept.png", parameters("a cat"), None)
        found = store.search(None, "cat")
        store.save(png(), "kept too.png", parameters("a cat"), None)

    assert str(database) in store.error and "cannot be read" in store.error
    assert "file is not a database" in store.error and "pictures are still saved" in store.error
    assert saved is None and (todays_folder(outputs) / "kept.png").is_file()
    assert (todays_folder(outputs) / "kept too.png").is_file()
    assert found == ([], 0) and store.models(None) == [] and store.get(1, None) is None
    assert not store.delete(1, None) and not store.set_favourite(1, None, True) and store.import_folder(outputs) == 0
    assert len([record for record in caplog.records if "gallery database" in record.message]) == 1  # said once
    store.close()


def test_a_database_that_cannot_be_opened_is_said_and_pictures_are_still_saved(outputs):
    (outputs / "gallery.sqlite").mkdir(parents=True)  # a folder where the file should be: cannot be opened

    store = PictureStore(outputs)

    assert "gallery.sqlite cannot be written" in store.error
    assert store.save(png(), "kept.png", parameters("a cat"), None) is None
    assert (todays_folder(outputs) / "kept.png").is_file() and store.search(None) == ([], 0)


def test_a_database_locked_too_long_by_another_program_loses_no_picture(outputs):
    store = PictureStore(outputs, busy_timeout=0.05)
    other_program = sqlite3.connect(outputs / "gallery.sqlite", isolation_level=None)
    other_program.execute("BEGIN IMMEDIATE")  # holds the write lock

    while_locked = store.save(png(INFOTEXT), "while-locked.png", parameters("a cat"), None)

    assert while_locked is None and "gallery.sqlite is locked" in store.error
    assert (todays_folder(outputs) / "while-locked.png").is_file()
    assert store.search(None) == ([], 0)  # readers still read in WAL mode
    other_program.execute("ROLLBACK")
    other_program.close()
    assert store.save(png(), "after.png", parameters("after"), None) is not None and store.error is None
    store.close()
    # the next start adds the picture saved while the database was locked, read from the picture
    assert prompts(PictureStore(outputs).search(None)[0]) == ["after", "a cat"]


# ---------------------------------------------------------------------- importing another program's pictures


def test_an_a1111_outputs_folder_is_imported_once(store, tmp_path):
    a1111 = tmp_path / "a1111" / "outputs"
    first_day = a1111 / "txt2img-images" / "2024-01-01"
    second_day = a1111 / "img2img-images" / "2024-01-02"
    first_day.mkdir(parents=True)
    second_day.mkdir(parents=True)
    (first_day / "00001-5.png").write_bytes(png(INFOTEXT))
    (first_day / "00002-9.png").write_bytes(png(INFOTEXT.replace("a cat", "a dog").replace("Seed: 5", "Seed: 9")))
    (second_day / "00003-7.jpg").write_bytes(jpeg(INFOTEXT.replace("a cat", "a jpeg cat")))
    (second_day / "00004-1.jpg").write_bytes(jpeg())  # no parameters
    (second_day / "notes.txt").write_text("not a picture")
    (second_day / "broken.png").write_bytes(b"not a picture either")

    assert store.import_folder(a1111) == 4
    assert store.import_folder(a1111) == 0

    entries, total = store.search(None)
    by_name = {entry.path.name: entry for entry in entries}
    assert total == 4 and sorted(by_name) == ["00001-5.png", "00002-9.png", "00003-7.jpg", "00004-1.jpg"]
    assert (by_name["00001-5.png"].prompt, by_name["00001-5.png"].seed) == ("a cat", 5)
    assert (by_name["00002-9.png"].prompt, by_name["00002-9.png"].seed) == ("a dog", 9)
    assert by_name["00003-7.jpg"].prompt == "a jpeg cat" and by_name["00003-7.jpg"].model == "tiny"
    assert (by_name["00004-1.jpg"].prompt, by_name["00004-1.jpg"].model) == ("", None)
    assert by_name["00001-5.png"].path == first_day / "00001-5.png"  # recorded where it is
    assert prompts(store.search(None, "cat")[0]).count("a jpeg cat") == 1
    # deleting an imported picture takes it out of the gallery, not out of the other program's folder
    assert store.delete(by_name["00004-1.jpg"].id, None) and (second_day / "00004-1.jpg").exists()
