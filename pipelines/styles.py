"""A1111's styles.csv: named pieces of prompt that a run adds to its prompt and negative prompt.

The format is A1111's (modules/styles.py): CSV with the header `name,prompt,negative_prompt`, written in UTF-8
with a byte order mark and \\r\\n line ends, fields quoted only where they must be. A1111 also reads the first
format's `name,text` header, takes a missing negative column as empty, and skips rows whose name starts with
"#" (comments). A style's text may hold `{prompt}`, where the user's prompt goes; without it, the style's text
is added after the prompt with ", ".

Reading never raises: each row that cannot be used is left out with a warning naming the file and its line.
Saving keeps every other row, and refuses to write over a file that it, or A1111, cannot read.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

A1111_COLUMNS = ("name", "prompt", "negative_prompt")
FIRST_FORMAT_PROMPT = "text"  # the prompt's column in A1111's first styles files
COMMENT = "#"
PROMPT_PLACE = "{prompt}"
NEW_FILE_MODE = 0o644  # a new styles.csv is readable by the A1111 a user may run as someone else


class StylesFileError(ValueError):
    """A file that cannot be read as a styles file; the message says which and why."""


@dataclass(frozen=True)
class Style:
    name: str
    prompt: str = ""
    negative_prompt: str = ""


def load_styles(path: Path) -> tuple[dict[str, Style], list[str]]:
    """The styles of a styles.csv by name, in the file's order, and a warning for each row left out.
    A missing file has no styles and nothing to warn about."""
    path = Path(path)
    try:
        header, rows = _read_table(path)
    except FileNotFoundError:
        return {}, []
    except StylesFileError as error:
        return {}, [str(error)]
    styles: dict[str, Style] = {}
    first_line: dict[str, int] = {}
    warnings: list[str] = []
    for line, fields in rows:
        problem = _problem(fields, header)
        if problem:
            warnings.append(f"{path}, line {line}: {problem}: left out")
            continue
        style = _style(_by_column(header, fields))
        if style is None:
            continue  # a comment or a blank line
        if style.name in styles:
            warnings.append(f"{path}, line {line}: a second style named {style.name!r} (the first is on line "
                            f"{first_line[style.name]}): this one is used, as A1111 does")
        first_line.setdefault(style.name, line)
        styles[style.name] = style
    return styles, warnings


def apply_styles(prompt: str, negative: str, styles: list[Style]) -> tuple[str, str]:
    """Both prompts with the styles applied in the order given, each as A1111's merge_prompts does."""
    for style in styles:
        prompt = _merge(style.prompt, prompt)
        negative = _merge(style.negative_prompt, negative)
    return prompt, negative


def unknown_styles(names: list[str], styles: dict[str, Style]) -> list[str]:
    """The names asked for that are not among the styles, once each, in the order asked."""
    return [name for name in dict.fromkeys(names) if name not in styles]


def save_style(path: Path, style: Style) -> None:
    """Add the style to styles.csv, or replace the one of its name, keeping the other rows and their order.
    The file is written whole to a temporary file first, then put in place: an interrupted save loses nothing.
    Raises ValueError, with the reason, for a name A1111 could not read back or a file that cannot be saved."""
    _check_name(style.name)
    path = Path(path)
    try:
        header, rows = _read_table(path)
    except FileNotFoundError:
        header, rows = list(A1111_COLUMNS), []
    _check_readable_by_a1111(path, rows)
    header = _with_a1111_columns(header)
    new_row = [getattr(style, column) if column in A1111_COLUMNS else "" for column in header]
    _write_atomically(path, header, _replacing(rows, header, style.name, new_row))


def _merge(style_text: str, prompt: str) -> str:
    if PROMPT_PLACE in style_text:
        return style_text.replace(PROMPT_PLACE, prompt)
    return ", ".join(part for part in (prompt.strip(), style_text.strip()) if part)


def _read_table(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header, and each later row with the line it starts on. Raises FileNotFoundError, or
    StylesFileError for a file that is not a styles file."""
    try:
        # Bytes that are not UTF-8 are read as surrogates, so that only the rows holding them are left out
        text = path.read_bytes().decode("utf-8-sig", errors="surrogateescape")
    except FileNotFoundError:
        raise
    except OSError as error:
        raise StylesFileError(f"{path}: cannot be read ({error.strerror or error})") from None
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)  # as A1111's DictReader reads
    rows, line = [], 1
    try:
        for fields in reader:
            rows.append((line, fields))
            line = reader.line_num + 1
    except csv.Error as error:
        raise StylesFileError(f"{path}, line {line}: not CSV ({error})") from None
    header = next((fields for _, fields in rows if fields), [])
    if "name" not in header or not {"prompt", FIRST_FORMAT_PROMPT} & set(header):
        shown = ",".join(header)[:80].encode("utf-8", "replace").decode()
        raise StylesFileError(f"{path}: not an A1111 styles file: its first line should be "
                              f"{','.join(A1111_COLUMNS)}, not {shown!r}")
    start = next(i for i, (_, fields) in enumerate(rows) if fields) + 1
    return header, rows[start:]


def _problem(fields: list[str], header: list[str]) -> str | None:
    if not fields:
        return None  # a blank line, which A1111 skips too
    if not _is_utf8(fields):
        return "it is not UTF-8 text"
    name = _by_column(header, fields).get("name", "")
    if name.startswith(COMMENT):
        return None
    if len(fields) > len(header):
        return (f"{len(fields)} fields where the header has {len(header)} (a text with commas must be in "
                f"double quotes)")
    return None if name.strip() else "it has no name"


def _by_column(header: list[str], fields: list[str]) -> dict[str, str]:
    return dict(zip(header, fields))  # a short row lacks its last columns, as A1111's DictReader reads it


def _is_utf8(fields: list[str]) -> bool:
    try:
        "".join(fields).encode("utf-8")  # what was not UTF-8 was read as surrogates, which do not encode
    except UnicodeEncodeError:
        return False
    return True


def _check_readable_by_a1111(path: Path, rows: list[tuple[int, list[str]]]) -> None:
    """A1111 reads none of a styles file that has a byte of another encoding in it: saving refuses to write
    such a file rather than guess what the bytes meant."""
    for line, fields in rows:
        if not _is_utf8(fields):
            raise StylesFileError(f"{path}, line {line}: not UTF-8 text, which A1111 cannot read: correct or "
                                  f"remove that row, then save again")


def _style(row: dict[str, str]) -> Style | None:
    """The style of a checked row (a missing prompt or negative is empty, as in A1111); None for a comment or
    a blank line."""
    name = row.get("name")
    if not name or name.startswith(COMMENT):
        return None
    prompt = row["prompt"] if "prompt" in row else row.get(FIRST_FORMAT_PROMPT, "")
    return Style(name=name, prompt=prompt, negative_prompt=row.get("negative_prompt", ""))


def _replacing(rows: list[tuple[int, list[str]]], header: list[str], name: str,
               new_row: list[str]) -> list[list[str]]:
    """The rows with the new one in the place of the first row of its name, or at the end. Later rows of that
    name (the one A1111 would have used) go: the file keeps one style of each name."""
    kept, placed = [], False
    for _, fields in rows:
        if not fields:
            continue
        if _by_column(header, fields).get("name") != name:
            kept.append(fields)
        elif not placed:
            kept.append(new_row)
            placed = True
    return kept if placed else [*kept, new_row]


def _check_name(name: str) -> None:
    if not name.strip():
        raise ValueError("a style needs a name")
    if "\n" in name or "\r" in name:
        raise ValueError(f"a style's name must be one line, not {name!r}")
    if name != name.lstrip():
        raise ValueError(f"a style's name cannot start with a space ({name!r}): A1111 would read it back "
                         f"without the space")
    if name.startswith(COMMENT):
        raise ValueError(f"a style's name cannot start with {COMMENT!r} ({name!r}): A1111 reads such a row as a "
                         f"comment")


def _with_a1111_columns(header: list[str]) -> list[str]:
    """The header with A1111's columns: a first-format `text` column becomes `prompt`, a missing negative column
    is added at the end (rows without it read as empty). Other columns stay, where they are."""
    columns = ["prompt" if column == FIRST_FORMAT_PROMPT and "prompt" not in header else column
               for column in header]
    return columns + [column for column in A1111_COLUMNS if column not in columns]


def _write_atomically(path: Path, header: list[str], rows: list[list[str]]) -> None:
    try:
        _write_then_replace(path, header, rows)
    except OSError as error:  # a ValueError, as every reason a save is refused, for the page to show
        raise StylesFileError(f"{path}: cannot be written ({error.strerror or error})") from None


def _write_then_replace(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)  # a replaced file keeps who may read it
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with open(descriptor, "w", encoding="utf-8-sig", newline="") as file:
            writer = csv.writer(file)  # A1111's dialect: excel, \r\n, quoting where needed
            writer.writerow(header)
            writer.writerows(rows)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def with_styles(request, known: dict[str, Style], warnings: list[str]):
    """A GenerationRequest with its `styles` applied to both prompts; unknown names are added to `warnings`."""
    if not request.styles:
        return request
    for name in unknown_styles(request.styles, known):
        warnings.append(f"styles: no style named {name!r} (known: {', '.join(known) or 'none'})")
    chosen = [known[name] for name in request.styles if name in known]
    prompt, negative = apply_styles(request.prompt, request.negative_prompt, chosen)
    hires = request.hires
    if hires is not None and (hires.prompt or hires.negative_prompt):  # A1111 styles the hires prompts too
        hr_prompt, hr_negative = apply_styles(hires.prompt or request.prompt,
                                              hires.negative_prompt or request.negative_prompt, chosen)
        hires = dataclasses.replace(hires, prompt=hr_prompt, negative_prompt=hr_negative)
    return dataclasses.replace(request, prompt=prompt, negative_prompt=negative, hires=hires)
