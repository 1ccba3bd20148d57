"""Generation parameters stored in images, in AUTOMATIC1111's "infotext" format.

An infotext looks like this (it is what A1111 writes into the PNG text chunk
named ``parameters``, and into the EXIF UserComment of JPEG/WebP files)::

    a cozy cabin in the woods,
    autumn leaves
    Negative prompt: lowres, blurry
    Steps: 20, Sampler: DPM++ 2M, CFG scale: 7, Seed: 1234, Size: 512x512, Lora hashes: "a: 12ab, b: 34cd"

The prompt may span several lines; the negative prompt starts at the line
beginning with ``Negative prompt:``; the last line holds ``key: value`` pairs.
Parsing follows A1111's ``parse_generation_parameters``
(modules/infotext_utils.py) so that files move freely between the two programs.

Pillow (and piexif, which A1111 writes and reads EXIF with) only: this module must stay importable
without torch/diffusers/gradio.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any, Mapping

from PIL import Image, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

PARAMETERS_KEY = "parameters"
NEGATIVE_PROMPT_PREFIX = "Negative prompt:"
TEMPLATE_PREFIX = "Template:"  # sd-dynamic-prompts: the template a prompt was drawn from, on a line of its own
NEGATIVE_TEMPLATE_PREFIX = "Negative Template:"

# Verbatim from A1111, so that a settings line is split exactly as it splits it.
_RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_RE_KEY = re.compile(r"\w[\w \-/]+")  # the key part of _RE_PARAM
_RE_SIZE = re.compile(r"^(\d+)x(\d+)$")

# Settings that parse_parameters also returns under a typed, snake_case name.
_TYPED_SETTINGS = {
    "Steps": ("steps", int),
    "Sampler": ("sampler", str),
    "CFG scale": ("cfg_scale", float),
    "Seed": ("seed", int),
    "Denoising strength": ("denoising_strength", float),
    "Clip skip": ("clip_skip", int),
}

_EXIF_IFD = 0x8769
_EXIF_USER_COMMENT = 0x9286
# A UserComment starts with an 8-byte character-code header (EXIF 2.3, 4.6.5).
# A1111 writes it with piexif's UserComment.dump(..., encoding="unicode"),
# i.e. b"UNICODE\0" followed by UTF-16-BE; these are the codes piexif knows.
_USER_COMMENT_CODECS = {
    b"UNICODE\0": "utf-16-be",
    b"ASCII\0\0\0": "ascii",
    b"JIS\0\0\0\0\0": "shift_jis",
}


# --------------------------------------------------------------------------- text


def _format_value(value: Any) -> str:
    # A1111 writes whole-number floats without ".0" ("CFG scale: 7").
    text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    # A1111's quote() JSON-encodes values holding "," ":" or a newline, which
    # would otherwise break the line apart. We also quote values its parser
    # would alter: ones holding '"' (a bare "x" is read back as x), with
    # surrounding whitespace (eaten by the regex), or empty. A1111 reads all
    # of these back correctly.
    if not text or text != text.strip() or any(c in text for c in ',:\n"'):
        return json.dumps(text, ensure_ascii=False)
    return text


def format_parameters(p: Mapping[str, Any]) -> str:
    """Build an A1111 infotext from {"prompt", "negative_prompt", "settings"}.

    ``settings`` is an ordered mapping such as {"Steps": 20, "Sampler": "Euler a"};
    None values are skipped. Note that, like A1111, the parser only recognises
    the settings line when it holds at least 3 entries.
    """
    pairs = []
    for key, value in (p.get("settings") or {}).items():
        if value is None:
            continue
        if not _RE_KEY.fullmatch(key):
            raise ValueError(
                f"setting name {key!r} cannot be read back: it must be 2+ characters, "
                "start with a letter/digit/_ and contain only those, spaces, '-' and '/'"
            )
        pairs.append(f"{key}: {_format_value(value)}")

    lines = [p.get("prompt") or ""]
    if p.get("negative_prompt"):
        lines.append(f"{NEGATIVE_PROMPT_PREFIX} {p['negative_prompt']}")
    if pairs:
        lines.append(", ".join(pairs))
    # sd-dynamic-prompts' lines, after the settings: the templates the prompts were drawn from
    if p.get("template"):
        lines.append(f"{TEMPLATE_PREFIX} {p['template']}")
    if p.get("negative_template"):
        lines.append(f"{NEGATIVE_TEMPLATE_PREFIX} {p['negative_template']}")
    # A1111 strips the whole text too, so an empty prompt leaves no blank first line.
    return "\n".join(lines).strip()


def with_settings(infotext: str, extra: Mapping[str, Any]) -> str:
    """The infotext with more settings at the end of its settings line (as A1111's scripts add theirs)."""
    text, templates = _without_templates(infotext.strip())
    pairs = ", ".join(f"{key}: {_format_value(value)}" for key, value in extra.items() if value is not None)
    *lines, last = text.split("\n")
    if len(_RE_PARAM.findall(last)) < 3:  # no settings line yet: this one starts it
        lines.append(last)
        last = ""
    lines.append(f"{last}, {pairs}" if last else pairs)
    if templates.get("template"):
        lines.append(f"{TEMPLATE_PREFIX} {templates['template']}")
    if templates.get("negative_template"):
        lines.append(f"{NEGATIVE_TEMPLATE_PREFIX} {templates['negative_template']}")
    return "\n".join(lines)


def _unquote(value: str) -> str:
    try:
        return json.loads(value)
    except ValueError:  # looked quoted but is not valid JSON: keep as written (as A1111 does)
        return value


def _without_templates(text: str) -> tuple[str, dict]:
    """The infotext without sd-dynamic-prompts' trailing `Template:` / `Negative Template:` lines, and those."""
    templates = {}
    for prefix, key in ((NEGATIVE_TEMPLATE_PREFIX, "negative_template"), (TEMPLATE_PREFIX, "template")):
        head, found, tail = text.rpartition(f"\n{prefix} ")
        if found and "\n" not in tail:
            text, templates[key] = head.rstrip(), tail.strip()
    return text, templates


def parse_parameters(text: str) -> dict[str, Any]:
    """Parse an A1111 infotext.

    Returns {"prompt", "negative_prompt", "settings": {key: str}} plus the typed
    keys steps, sampler, cfg_scale, seed, width, height, denoising_strength for
    the settings that are present and well-formed. As in A1111, each prompt line
    is stripped of surrounding whitespace.
    """
    text, templates = _without_templates(text.strip())
    *lines, last = text.split("\n")
    # A1111's rule: the last line is the settings line only if it holds at least
    # 3 "key: value" pairs, so that a prompt line like "style: anime" stays prompt.
    if len(_RE_PARAM.findall(last)) < 3:
        lines.append(last)
        last = ""

    prompt: list[str] = []
    negative: list[str] = []
    target = prompt
    for line in lines:
        line = line.strip()
        if line.startswith(NEGATIVE_PROMPT_PREFIX):
            target = negative
            line = line[len(NEGATIVE_PROMPT_PREFIX):].strip()
        target.append(line)

    settings: dict[str, str] = {}
    for key, value in _RE_PARAM.findall(last):
        if value[:1] == '"' and value[-1:] == '"':
            value = _unquote(value)
        settings[key] = value

    result: dict[str, Any] = {
        # A1111 skips empty lines until the first non-empty one, hence lstrip.
        "prompt": "\n".join(prompt).lstrip("\n"),
        "negative_prompt": "\n".join(negative).lstrip("\n"),
        "settings": settings,
        **templates,
    }
    for key, (name, convert) in _TYPED_SETTINGS.items():
        if key in settings:
            try:
                result[name] = convert(settings[key])
            except ValueError:  # e.g. "Seed: abc" from a hand-edited file: keep only the raw string
                pass
    if "Distilled CFG Scale" in settings:  # a FLUX.1 picture (Forge's name): its guidance is the distilled one
        try:
            result["cfg_scale"] = float(settings["Distilled CFG Scale"])
        except ValueError:
            pass
    size = _RE_SIZE.match(settings.get("Size", ""))
    if size:
        result["width"], result["height"] = int(size.group(1)), int(size.group(2))
    return result


# --------------------------------------------------------------------------- images


def png_text_chunks(parameters: str, extra: Mapping[str, str] | None = None) -> PngInfo:
    """PNG text chunks holding ``parameters`` (under PARAMETERS_KEY) and ``extra``."""
    extra = dict(extra or {})
    if PARAMETERS_KEY in extra:
        raise ValueError(f"pass the infotext as `parameters`, not as extra[{PARAMETERS_KEY!r}]")
    info = PngInfo()
    for key, value in {PARAMETERS_KEY: parameters, **extra}.items():
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            # tEXt chunks can only hold latin-1; iTXt holds UTF-8 (emoji, CJK...).
            info.add_itxt(key, value)
        else:
            info.add_text(key, value)  # plain tEXt, as A1111 writes it
    return info


def save_png(image: Image.Image, path_or_file, parameters: str,
             extra: Mapping[str, str] | None = None) -> None:
    """Save ``image`` as PNG with the infotext in its ``parameters`` text chunk."""
    image.save(path_or_file, format="PNG", pnginfo=png_text_chunks(parameters, extra))


def exif_with_parameters(parameters: str) -> bytes:
    """EXIF holding the infotext in its UserComment, written as A1111 writes it for JPEG and WebP.

    piexif, as A1111 uses: Pillow's own EXIF writer stores UserComment as bytes of another type, which
    A1111's reader (piexif) cannot decode.
    """
    import piexif
    import piexif.helper

    comment = piexif.helper.UserComment.dump(parameters or "", encoding="unicode")
    return piexif.dump({"Exif": {piexif.ExifIFD.UserComment: comment}})


def _decode_user_comment(raw: bytes | str) -> str:
    if isinstance(raw, str):
        text = raw
    elif raw[:8] in _USER_COMMENT_CODECS:
        text = raw[8:].decode(_USER_COMMENT_CODECS[raw[:8]], errors="replace")
    else:
        # Undefined/unknown header: A1111 falls back to reading it as UTF-8.
        text = raw.decode("utf-8", errors="ignore")
    return text.strip("\0")  # some writers pad with NULs; the undefined header is NULs


def _parameters_from_image(image: Image.Image) -> str | None:
    try:
        raw = image.getexif().get_ifd(_EXIF_IFD).get(_EXIF_USER_COMMENT)
    except Exception:  # a malformed EXIF block must not stop us reading the rest
        raw = None
    comment = _decode_user_comment(raw) if raw else ""
    if comment:
        return comment  # like A1111, a non-empty UserComment wins over a text chunk

    try:
        # PNG text chunks may follow the pixel data; `.text` reads up to them,
        # while `.info` only has the chunks seen before the pixels.
        texts = getattr(image, "text", None) or image.info
    except (OSError, ValueError):  # truncated file, or one already closed
        texts = image.info
    value = texts.get(PARAMETERS_KEY, image.info.get(PARAMETERS_KEY))
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return None if value is None else str(value)  # str(): Pillow's iTXt is a str subclass


def read_parameters(source) -> str | None:
    """Return the infotext of an image, or None when it has none.

    ``source`` is a path, bytes, a binary file object or a PIL image. Looks at
    the EXIF UserComment (JPEG/WebP from A1111) and the ``parameters`` text
    chunk (PNG). Raises ValueError when ``source`` is not an image.
    """
    if isinstance(source, Image.Image):
        return _parameters_from_image(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    try:
        image = Image.open(source)
    except UnidentifiedImageError as e:
        raise ValueError(f"cannot read generation parameters: not a recognised image ({e})") from None
    with image:
        return _parameters_from_image(image)
