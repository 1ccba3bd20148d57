"""A1111's styles.csv: read as A1111 reads it, applied as A1111 applies it, and saved so that A1111 reads it back."""

from __future__ import annotations

import csv

import pytest

from pipelines.styles import Style, apply_styles, load_styles, save_style, unknown_styles

# A styles.csv as A1111 writes it: UTF-8 with a byte order mark, \r\n, fields quoted only where they must be.
A1111_WRITTEN = (
    "\ufeffname,prompt,negative_prompt\r\n"
    'Cinematic,"cinematic still of {prompt}, shallow depth of field","cartoon, drawing"\r\n'
    "Vivid,vivid colours,dull\r\n"
    'Quoted,"a sign saying ""hello""",\r\n'
    'Two lines,"first line\nsecond line",\r\n'
)


def a1111_reads(path) -> dict[str, tuple[str, str]]:
    """What A1111's StyleDatabase.load_from_csv makes of a file."""
    with open(path, encoding="utf-8-sig", newline="") as file:
        rows = [row for row in csv.DictReader(file, skipinitialspace=True) if row and not row["name"].startswith("#")]
    return {row["name"]: (row["prompt"] if "prompt" in row else row["text"], row.get("negative_prompt") or "")
            for row in rows}


def test_a_file_written_by_a1111_is_read_whole(tmp_path):
    path = tmp_path / "styles.csv"
    path.write_bytes(A1111_WRITTEN.encode())

    styles, warnings = load_styles(path)

    assert warnings == []
    assert list(styles) == ["Cinematic", "Vivid", "Quoted", "Two lines"]
    assert styles["Cinematic"] == Style("Cinematic", "cinematic still of {prompt}, shallow depth of field",
                                        "cartoon, drawing")
    assert styles["Quoted"].prompt == 'a sign saying "hello"' and styles["Quoted"].negative_prompt == ""
    assert styles["Two lines"].prompt == "first line\nsecond line"


def test_older_files_are_read_as_a1111_reads_them(tmp_path):
    first_format = tmp_path / "first.csv"
    first_format.write_text("name,text\nOld,oil painting\n")
    no_negative = tmp_path / "short.csv"
    no_negative.write_text("name,prompt,negative_prompt\nShort,watercolour\n# Notes, not a style\n")

    assert load_styles(first_format) == ({"Old": Style("Old", "oil painting", "")}, [])
    assert load_styles(no_negative) == ({"Short": Style("Short", "watercolour", "")}, [])


def test_each_bad_row_is_left_out_with_its_file_and_line(tmp_path):
    path = tmp_path / "styles.csv"
    path.write_bytes(
        b"name,prompt,negative_prompt\n"  # line 1
        b"Good,good prompt,\n"  # 2
        b",a style with no name,\n"  # 3
        b"Commas,oil, canvas, brush,blurry\n"  # 4: the prompt's commas are not quoted
        b'Multi,"one\ntwo",\n'  # 5 and 6
        b"Latin,caf\xe9 au lait,\n"  # 7: not UTF-8
        b"Good,good again,\n"  # 8
    )

    styles, warnings = load_styles(path)

    assert list(styles) == ["Good", "Multi"]
    assert styles["Good"].prompt == "good again"  # the last of a name, as A1111 keeps it
    assert len(warnings) == 4
    expected = zip((3, 4, 7, 8), ("no name", "5 fields", "not UTF-8", "line 2"), strict=True)
    for warning, (line, why) in zip(warnings, expected, strict=True):
        assert warning.startswith(f"{path}, line {line}: ") and why in warning


def test_a_missing_file_has_no_styles_and_a_file_that_is_not_a_styles_file_is_warned_about(tmp_path):
    picture = tmp_path / "styles.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    spreadsheet = tmp_path / "prices.csv"
    spreadsheet.write_text("item,price\ntea,3\n")

    assert load_styles(tmp_path / "none.csv") == ({}, [])
    for path in (picture, spreadsheet, tmp_path):
        styles, warnings = load_styles(path)
        assert styles == {} and len(warnings) == 1 and warnings[0].startswith(str(path))


def test_a_style_with_a_place_for_the_prompt_wraps_it():
    cinematic = Style("Cinematic", "cinematic still of {prompt}, film grain", "{prompt}, cartoon")

    assert apply_styles("a cat", "blurry", [cinematic]) == ("cinematic still of a cat, film grain",
                                                            "blurry, cartoon")


def test_a_style_without_a_place_is_added_after_the_prompt_and_empty_parts_are_skipped():
    vivid = Style("Vivid", " vivid colours ", "")

    assert apply_styles("a cat ", " blurry ", [vivid]) == ("a cat, vivid colours", "blurry")
    assert apply_styles("", "", [vivid]) == ("vivid colours", "")


def test_several_styles_apply_in_the_order_given():
    frame = Style("Frame", "photo of {prompt}", "")
    detail = Style("Detail", "highly detailed", "lowres")

    assert apply_styles("a cat", "", [frame, detail]) == ("photo of a cat, highly detailed", "lowres")
    assert apply_styles("a cat", "", [detail, frame]) == ("photo of a cat, highly detailed", "lowres")
    assert apply_styles("a cat", "", [Style("A", "x {prompt}", ""), Style("B", "y {prompt}", "")]) == (
        "y x a cat", "")


def test_saving_replaces_a_style_in_its_place_and_keeps_the_other_rows(tmp_path):
    path = tmp_path / "styles.csv"
    path.write_bytes(A1111_WRITTEN.encode() + b"# mine below, by hand\r\nPlain,  plain,  with odd spacing \r\n")

    save_style(path, Style("Vivid", "vivid, saturated colours", "dull, grey"))
    save_style(path, Style("New one", "new, with {prompt}", 'no "quotes"'))

    styles, _ = load_styles(path)
    assert list(styles) == ["Cinematic", "Vivid", "Quoted", "Two lines", "Plain", "New one"]
    assert styles["Vivid"] == Style("Vivid", "vivid, saturated colours", "dull, grey")
    assert styles["Two lines"].prompt == "first line\nsecond line"
    content = path.read_bytes()
    assert content.startswith(b"\xef\xbb\xbfname,prompt,negative_prompt\r\n")  # as A1111 writes it
    assert b"\r\n# mine below" in content  # a comment, kept (A1111 itself drops comments when it saves)
    assert styles["Plain"] == Style("Plain", "plain", "with odd spacing ")
    assert a1111_reads(path) == {name: (style.prompt, style.negative_prompt) for name, style in styles.items()}
    assert [p.name for p in tmp_path.iterdir()] == ["styles.csv"]  # no temporary file left behind


def test_a_saved_style_is_read_back_by_a1111(tmp_path):
    path = tmp_path / "new" / "styles.csv"

    save_style(path, Style("Cinematic", "cinematic still of {prompt}, 35mm", "cartoon,\n drawing"))

    assert a1111_reads(path) == {"Cinematic": ("cinematic still of {prompt}, 35mm", "cartoon,\n drawing")}
    assert load_styles(path) == ({"Cinematic": Style("Cinematic", "cinematic still of {prompt}, 35mm",
                                                     "cartoon,\n drawing")}, [])


def test_saving_into_a_first_format_file_gives_it_a1111s_columns(tmp_path):
    path = tmp_path / "styles.csv"
    path.write_text("name,text\nOld,oil painting\n")

    save_style(path, Style("New", "ink", "colour"))

    assert path.read_text(encoding="utf-8-sig").splitlines()[0] == "name,prompt,negative_prompt"
    assert load_styles(path)[0] == {"Old": Style("Old", "oil painting", ""), "New": Style("New", "ink", "colour")}


@pytest.mark.parametrize("name, why", [("", "needs a name"), ("   ", "needs a name"), ("two\nlines", "one line"),
                                       ("# notes", "comment"), (" spaced", "space")])
def test_a_name_a1111_could_not_read_back_is_refused(tmp_path, name, why):
    with pytest.raises(ValueError, match=why):
        save_style(tmp_path / "styles.csv", Style(name, "prompt", ""))
    assert not (tmp_path / "styles.csv").exists()


@pytest.mark.parametrize("content, why", [(b"item,price\ntea,3\n", "not an A1111 styles file"),
                                         (b"name,prompt\nOk,fine\nLatin,caf\xe9\n", "line 3: not UTF-8")])
def test_a_file_that_a1111_could_not_read_is_not_written_over(tmp_path, content, why):
    path = tmp_path / "styles.csv"
    path.write_bytes(content)

    with pytest.raises(ValueError, match=why):
        save_style(path, Style("New", "ink", ""))
    assert path.read_bytes() == content


def test_the_names_that_are_not_styles_are_told_once_each():
    styles = {"Vivid": Style("Vivid", "vivid", "")}

    assert unknown_styles(["Nope", "Vivid", "Other", "Nope"], styles) == ["Nope", "Other"]
    assert unknown_styles(["Vivid"], styles) == []


def test_a_file_that_cannot_be_written_is_a_clear_error(tmp_path):
    (tmp_path / "outputs").write_text("a file where a folder should be")

    with pytest.raises(ValueError, match="outputs"):
        save_style(tmp_path / "outputs" / "styles.csv", Style("New", "ink", ""))
