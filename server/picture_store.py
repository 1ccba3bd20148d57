"""The gallery: every picture in the outputs folder with a row in an SQLite database, so it survives restarts.

The database is `gallery.sqlite` in the outputs folder, beside the pictures it lists, so that moving or
backing up the folder takes the gallery with it. The pictures are what matters; the database is an index of
them that can always be rebuilt from the files:
- a picture is written in full under a temporary name (`.name.<pid>-<token>.partial`), flushed to disk,
  renamed to its final name, and only then given its row, so a crash leaves neither a row without its picture
  nor a half-written picture under a picture's name;
- each start (`repair`) removes the temporary files crashed writers left behind, adds rows for pictures that
  have none (read from the parameters the picture carries) and removes the rows whose picture is gone;
- nothing about the database raises to the caller: when it is corrupt, locked for too long or cannot be written,
  `error` says so, pictures are still written, and the gallery reads as empty.

Rows hold the path relative to the outputs folder (posix), except pictures imported from another folder
(`import_folder`, e.g. an AUTOMATIC1111 outputs folder), which are recorded by their absolute path.

Owners: a row's `owner` is the signed-in user who made it (None for a local single user, a repaired or an
imported picture). Every method takes `owner`: None reaches all rows; a name reaches only that owner's rows.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from PIL import Image

from pipelines import parse_parameters, read_parameters, record_of
from server.outputs import todays_folder

log = logging.getLogger(__name__)

DATABASE_NAME = "gallery.sqlite"
SCHEMA_VERSION = 1  # PRAGMA user_version: what a database made by this Easel holds
BUSY_TIMEOUT = 5.0  # seconds a write waits for another thread's or process's write before giving up
PICTURE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
PARTIAL_SUFFIX = ".partial"
# A temporary file of a writer whose process cannot be checked (not POSIX) is stale after this long: writing
# one picture takes milliseconds.
STALE_PARTIAL_SECONDS = 600
INFOTEXT_KEY = "infotext"  # where a record keeps the picture's A1111 parameters text

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pictures (
    id INTEGER PRIMARY KEY,
    file TEXT UNIQUE NOT NULL,
    prompt TEXT,
    negative TEXT,
    model TEXT,
    seed INTEGER,
    record TEXT,
    created REAL,
    owner TEXT,
    favourite INTEGER DEFAULT 0
);
CREATE INDEX IF NOT EXISTS pictures_by_owner ON pictures (owner, created);
CREATE INDEX IF NOT EXISTS pictures_by_model ON pictures (model);
-- The words of the prompts, for full-text search; an external-content table (the text stays in `pictures`
-- only), kept in step by the triggers below within each write's own transaction.
CREATE VIRTUAL TABLE IF NOT EXISTS pictures_text USING fts5(
    prompt, negative, content='pictures', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS pictures_added AFTER INSERT ON pictures BEGIN
    INSERT INTO pictures_text (rowid, prompt, negative) VALUES (new.id, new.prompt, new.negative);
END;
CREATE TRIGGER IF NOT EXISTS pictures_removed AFTER DELETE ON pictures BEGIN
    INSERT INTO pictures_text (pictures_text, rowid, prompt, negative)
        VALUES ('delete', old.id, old.prompt, old.negative);
END;
CREATE TRIGGER IF NOT EXISTS pictures_changed AFTER UPDATE OF prompt, negative ON pictures BEGIN
    INSERT INTO pictures_text (pictures_text, rowid, prompt, negative)
        VALUES ('delete', old.id, old.prompt, old.negative);
    INSERT INTO pictures_text (rowid, prompt, negative) VALUES (new.id, new.prompt, new.negative);
END;
"""
_COLUMNS = "id, file, prompt, negative, model, seed, record, created, owner, favourite"


@dataclass
class Entry:
    """One picture of the gallery."""

    id: int
    path: Path  # absolute
    prompt: str
    negative: str
    model: str | None
    seed: int | None
    record: dict = field(default_factory=dict)  # all its parameters
    created: float = 0.0  # unix time
    owner: str | None = None
    favourite: bool = False

    @property
    def infotext(self) -> str | None:
        """The picture's parameters in AUTOMATIC1111's text, when it was saved or found with them."""
        text = self.record.get(INFOTEXT_KEY)
        return text if isinstance(text, str) else None


class PictureStore:
    """The gallery of an outputs folder. Safe to share between threads, and between processes on one folder.

    One connection, used under a lock: SQLite lets one writer in at a time anyway, every statement here takes
    milliseconds, and a connection per thread would be left open by each of the web server's worker threads.
    Other processes are kept in step by WAL mode and a busy timeout.
    """

    def __init__(self, outputs_dir: Path, database: Path | None = None, busy_timeout: float = BUSY_TIMEOUT):
        self.outputs_dir = Path(outputs_dir).resolve()
        self.database = Path(database) if database is not None else self.outputs_dir / DATABASE_NAME
        self.error: str | None = None  # what is wrong with the database, said to the user; None when all is well
        self._busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None
        self._unusable = False  # corrupt, unreadable or unwritable: not tried again until a restart
        self._warned: set[str] = set()
        self._open()
        self.repair()

    # ------------------------------------------------------------------ writing pictures

    def save(self, data: bytes, name: str, record: dict, owner: str | None = None,
             infotext: str | None = None) -> Entry | None:
        """Write a picture into today's folder and give it a row.

        `record` holds the parameters: prompt, negative_prompt, model, seed (flat, or under "parameters" as
        Easel's picture record has them) and anything else. A file of the same name is replaced. Returns the
        entry, or None when the database cannot be used (the picture is written all the same). An OSError
        writing the picture is raised: the caller reports it.
        """
        target = todays_folder(self.outputs_dir) / name
        _write_durably(target, data)
        record = dict(record)
        if infotext is not None:
            record[INFOTEXT_KEY] = infotext
        return self._record_row(self._file_of(target), record, owner, time.time())

    def _record_row(self, file: str, record: dict, owner: str | None, created: float) -> Entry | None:
        """The row of a picture just written. A row another process's repair added for it first is replaced."""
        prompt, negative, model, seed = _columns(record)

        def insert(connection: sqlite3.Connection) -> Entry | None:
            with _writing(connection):
                connection.execute(
                    "INSERT INTO pictures (file, prompt, negative, model, seed, record, created, owner)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (file) DO UPDATE SET prompt = excluded.prompt,"
                    " negative = excluded.negative, model = excluded.model, seed = excluded.seed,"
                    " record = excluded.record, created = excluded.created, owner = excluded.owner",
                    (file, prompt, negative, model, seed, _json(record), created, owner))
            return self._entry(connection.execute(f"SELECT {_COLUMNS} FROM pictures WHERE file = ?",
                                                  (file,)).fetchone())

        return self._use(insert, None)

    # ------------------------------------------------------------------ finding pictures on disk

    def repair(self) -> None:
        """Bring the rows in step with the outputs folder after a crash: stale temporary files go, pictures
        without a row get one (owner None), rows whose picture is gone are removed."""
        for partial in self.outputs_dir.rglob(f".*{PARTIAL_SUFFIX}"):
            if _abandoned(partial):
                partial.unlink(missing_ok=True)
        self._forget_missing()
        self.import_folder(self.outputs_dir)

    def import_folder(self, folder: Path, owner: str | None = None) -> int:
        """Add the pictures (PNG, JPEG, WebP) of a folder and its subfolders that have no row yet, with the
        parameters they carry (an empty prompt when none). Returns how many were added."""
        known = self._use(lambda connection: {row[0] for row in connection.execute("SELECT file FROM pictures")},
                          None)
        if known is None:
            return 0
        added = 0
        for path in sorted(_pictures_under(Path(folder))):
            file = self._file_of(path)
            if file in known:
                continue
            record = _record_of_file(path)
            if record is None:  # not a picture after all (a file named .png holding something else)
                continue
            added += bool(self._use(lambda connection: _insert_found(connection, file, record, owner,
                                                                      _modified(path)), 0))
            known.add(file)
        return added

    def _forget_missing(self) -> None:
        def forget(connection: sqlite3.Connection) -> None:
            rows = connection.execute("SELECT id, file FROM pictures").fetchall()
            gone = [(id,) for id, file in rows if not self._path_of(file).exists()]
            if gone:
                with _writing(connection):
                    connection.executemany("DELETE FROM pictures WHERE id = ?", gone)

        self._use(forget, None)

    # ------------------------------------------------------------------ reading the gallery

    def search(self, owner: str | None, text: str = "", model: str | None = None, since: float | None = None,
               until: float | None = None, favourites_only: bool = False, page: int = 0,
               per_page: int = 24) -> tuple[list[Entry], int]:
        """One page of pictures, newest first, and how many match in all.

        `text`: words all found in the prompt or the negative prompt (the last one may be the start of a word);
        typed as the user types, never read as search syntax. `since` <= created < `until` (unix times).
        """
        conditions, values = _owned_by(owner)
        words = _match_expression(text)
        if words:
            conditions.append("id IN (SELECT rowid FROM pictures_text WHERE pictures_text MATCH ?)")
            values.append(words)
        for condition, value in (("model = ?", model), ("created >= ?", since), ("created < ?", until)):
            if value is not None:
                conditions.append(condition)
                values.append(value)
        if favourites_only:
            conditions.append("favourite = 1")
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        per_page = max(1, int(per_page))

        def find(connection: sqlite3.Connection) -> tuple[list[Entry], int]:
            total = connection.execute(f"SELECT count(*) FROM pictures {where}", values).fetchone()[0]
            rows = connection.execute(f"SELECT {_COLUMNS} FROM pictures {where} ORDER BY created DESC, id DESC"
                                      " LIMIT ? OFFSET ?", [*values, per_page, max(0, int(page)) * per_page])
            return [self._entry(row) for row in rows], total

        return self._use(find, ([], 0))

    def get(self, id: int, owner: str | None) -> Entry | None:
        """The picture of that id, if the owner may see it."""
        conditions, values = _owned_by(owner)
        where = " AND ".join(["id = ?", *conditions])
        return self._use(lambda connection: self._entry(connection.execute(
            f"SELECT {_COLUMNS} FROM pictures WHERE {where}", [id, *values]).fetchone()), None)

    def models(self, owner: str | None) -> list[str]:
        """The models the owner's pictures were made with, for a filter."""
        conditions, values = _owned_by(owner)
        where = " AND ".join(["model IS NOT NULL", "model != ''", *conditions])
        return self._use(lambda connection: [row[0] for row in connection.execute(
            f"SELECT DISTINCT model FROM pictures WHERE {where} ORDER BY model", values)], [])

    # ------------------------------------------------------------------ changing the gallery

    def set_favourite(self, id: int, owner: str | None, value: bool) -> bool:
        """Mark or unmark a picture as a favourite. False when there is no such picture of that owner."""
        conditions, values = _owned_by(owner)
        where = " AND ".join(["id = ?", *conditions])

        def mark(connection: sqlite3.Connection) -> bool:
            with _writing(connection):
                return connection.execute(f"UPDATE pictures SET favourite = ? WHERE {where}",
                                          [int(bool(value)), id, *values]).rowcount > 0

        return self._use(mark, False)

    def delete(self, id: int, owner: str | None) -> bool:
        """Delete a picture's file (already gone is fine) and its row. False when there is no such picture of
        that owner, or its file could not be removed.

        A picture imported from outside the outputs folder only leaves the gallery: that file is another
        program's, and stays where it is.
        """
        entry = self.get(id, owner)
        if entry is None:
            return False
        if entry.path.is_relative_to(self.outputs_dir):
            try:
                entry.path.unlink(missing_ok=True)
            except OSError as error:
                log.warning("could not delete %s: %s", entry.path, error.strerror or error)
                return False

        def remove(connection: sqlite3.Connection) -> bool:
            with _writing(connection):
                return connection.execute("DELETE FROM pictures WHERE id = ?", (entry.id,)).rowcount > 0

        return self._use(remove, False)

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    # ------------------------------------------------------------------ the database

    def _open(self) -> None:
        try:
            self.database.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are begun here, IMMEDIATE, so that a write waits for another
            # process's write instead of failing when a read turns into a write (WAL's stale snapshot).
            connection = sqlite3.connect(self.database, timeout=self._busy_timeout, isolation_level=None,
                                         check_same_thread=False)
        except (sqlite3.Error, OSError) as error:  # OSError: the outputs folder cannot be made
            self._fail(error)
            return
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            connection.execute("PRAGMA journal_mode = WAL")  # readers and a writer at once, across processes
            connection.execute("PRAGMA synchronous = NORMAL")  # durable enough in WAL mode: a crash loses no row
            _create_schema(connection)
        except (sqlite3.Error, _NewerDatabase) as error:
            connection.close()
            self._fail(error)
            return
        self._connection = connection

    def _use(self, work, fallback):
        """`work(connection)` under the lock; `fallback` when the database cannot be used (said in `error`)."""
        with self._lock:
            if self._connection is None and not self._unusable:
                self._open()  # locked at start, for instance: try again
            if self._connection is None:
                return fallback
            try:
                result = work(self._connection)
            except sqlite3.Error as error:
                self._fail(error)
                return fallback
            self.error = None  # whatever was said (a lock held too long) is over
            return result

    def _fail(self, error: Exception) -> None:
        """Say what is wrong with the database, once, and keep going without it."""
        message = str(error)
        locked = isinstance(error, sqlite3.OperationalError) and ("locked" in message or "busy" in message)
        if locked:
            problem = "is locked by another program"
        else:
            self._unusable = True  # it will not get better by itself
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            problem = "cannot be written" if isinstance(error, OSError) or _about_writing(message) \
                else "cannot be read"
        self.error = (f"the gallery database {self.database} {problem} ({message}); "
                      "pictures are still saved to the outputs folder")
        if problem not in self._warned:
            self._warned.add(problem)
            log.warning("%s", self.error)

    # ------------------------------------------------------------------ paths and rows

    def _file_of(self, path: Path) -> str:
        """A picture's `file`: relative to the outputs folder, posix; absolute when outside it."""
        path = path.resolve()
        if path.is_relative_to(self.outputs_dir):
            return path.relative_to(self.outputs_dir).as_posix()
        return path.as_posix()

    def _path_of(self, file: str) -> Path:
        path = Path(file)
        return path if path.is_absolute() else self.outputs_dir / path

    def _entry(self, row) -> Entry | None:
        if row is None:
            return None
        id, file, prompt, negative, model, seed, record, created, owner, favourite = row
        return Entry(id=id, path=self._path_of(file), prompt=prompt or "", negative=negative or "", model=model,
                     seed=seed, record=_parsed_record(record), created=created or 0.0, owner=owner,
                     favourite=bool(favourite))


class _NewerDatabase(Exception):
    """The database was made by a newer Easel, whose schema this one does not know."""


def _create_schema(connection: sqlite3.Connection) -> None:
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise _NewerDatabase(f"made by a newer Easel: schema {version}, this one reads {SCHEMA_VERSION}")
    if version == SCHEMA_VERSION:
        return  # nothing to write: a start needs no write lock when another process is writing
    with _writing(connection):
        for statement in _statements(_SCHEMA):
            connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _statements(script: str) -> list[str]:
    """The statements of a script, whole (a trigger's body holds semicolons), for running in one transaction."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


@contextmanager
def _writing(connection: sqlite3.Connection) -> Iterator[None]:
    """A write transaction, taken at its start so that the busy timeout applies to it."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _insert_found(connection: sqlite3.Connection, file: str, record: dict, owner: str | None,
                  created: float) -> int:
    """The row of a picture found on disk, unless one was added meanwhile (by its writer, or another process)."""
    prompt, negative, model, seed = _columns(record)
    with _writing(connection):
        return connection.execute(
            "INSERT INTO pictures (file, prompt, negative, model, seed, record, created, owner)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (file) DO NOTHING",
            (file, prompt, negative, model, seed, _json(record), created, owner)).rowcount


def _owned_by(owner: str | None) -> tuple[list[str], list[Any]]:
    return ([], []) if owner is None else (["owner = ?"], [owner])


def _about_writing(message: str) -> bool:
    return any(words in message for words in ("readonly", "read-only", "unable to open", "disk I/O", "full"))


# ---------------------------------------------------------------------- the text of a search


def _match_expression(text: str) -> str:
    """An FTS5 query finding every word of `text` literally, the last also as the start of a word.

    Each word becomes a quoted string (its quotes doubled), so that `"`, `*`, `-`, `:`, `(`, NEAR or AND are
    searched for, never read as FTS5 syntax. Words with no letter or digit hold nothing FTS5 indexes: left out.
    """
    words = [word for word in str(text or "").split() if any(c.isalnum() for c in word)]
    quoted = ['"' + word.replace('"', '""') + '"' for word in words]
    if quoted:
        quoted[-1] += "*"  # the user may still be typing it
    return " ".join(quoted)


# ---------------------------------------------------------------------- records


def _columns(record: dict) -> tuple[str, str, str | None, int | None]:
    """Prompt, negative prompt, model and seed of a record: flat, or under "parameters" as in Easel's record."""
    inner = record.get("parameters") if isinstance(record.get("parameters"), dict) else {}

    def value(key: str):
        return record[key] if record.get(key) is not None else inner.get(key)

    model = value("model")
    if isinstance(model, dict):  # Easel's record: {"name": ..., "source": ...}
        model = model.get("name")
    if model is None:
        model = (record.get("settings") or {}).get("Model")  # an infotext's, parsed
    try:
        seed = int(value("seed"))
    except (TypeError, ValueError):
        seed = None
    return str(value("prompt") or ""), str(value("negative_prompt") or ""), \
        None if model is None else str(model), seed


def _record_of_file(path: Path) -> dict | None:
    """What a picture on disk says about itself: its infotext, parsed, and Easel's record. None if not a picture."""
    try:
        with Image.open(path) as image:
            infotext = read_parameters(image)
            easel = record_of(image)
    # unreadable, not an image (Pillow raises SyntaxError for broken chunks), or too large to be one
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        log.warning("not adding %s to the gallery: %s", path, error)
        return None
    record: dict[str, Any] = dict(easel.get("parameters") or {}) if easel else {}
    if infotext:
        record.update(parse_parameters(infotext))
        if "model" not in record and record["settings"].get("Model"):
            record["model"] = record["settings"]["Model"]
        record[INFOTEXT_KEY] = infotext
    if easel:
        record["easel"] = easel
    return record


def _json(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, default=str)


def _parsed_record(text: str | None) -> dict:
    try:
        record = json.loads(text) if text else {}
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


# ---------------------------------------------------------------------- files


def _write_durably(target: Path, data: bytes) -> None:
    """Write `target` in full under a temporary name, flush it to disk, then rename it into place."""
    partial = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}{PARTIAL_SUFFIX}")
    try:
        _write_fully(partial, data)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)


def _write_fully(path: Path, data: bytes) -> None:
    with open(path, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); where folders cannot be opened, the file system does it."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _abandoned(partial: Path) -> bool:
    """Whether a temporary file was left by a writer that died, not one another process is still writing."""
    try:
        pid = int(partial.name[:-len(PARTIAL_SUFFIX)].rsplit(".", 1)[1].split("-")[0])
    except (IndexError, ValueError):
        pid = None
    if pid is not None and os.name == "posix" and pid != os.getpid():
        try:
            os.kill(pid, 0)  # signal 0: asks whether the process lives, sends nothing
        except ProcessLookupError:
            return True
        except OSError:
            pass  # alive, another user's
        else:
            return False
    try:
        return time.time() - partial.stat().st_mtime > STALE_PARTIAL_SECONDS
    except OSError:
        return False


def _pictures_under(folder: Path) -> Iterator[Path]:
    """The pictures of a folder and its subfolders; hidden files and folders (temporary files) left out."""
    for root, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in PICTURE_SUFFIXES:
                yield Path(root) / name


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


_stores: dict[Path, PictureStore] = {}
_stores_lock = threading.Lock()


def store_for(outputs_dir: str | Path) -> PictureStore:
    """The one store of an outputs folder in this process: the pages and the A1111 API write through it alike."""
    folder = Path(outputs_dir).resolve()
    with _stores_lock:
        if folder not in _stores:
            _stores[folder] = PictureStore(folder)
        return _stores[folder]
