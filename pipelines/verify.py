"""Tell, for any picture, whether Easel made it and what its metadata says.

Four independent signs, from the sturdiest to the most fragile:
- the invisible watermark, in the pixels: survives JPEG re-encoding and halving, not crops;
- C2PA Content Credentials: a signed manifest; any change to the file afterwards breaks it;
- the IPTC digital source type in XMP: a label any tool can read, lost when metadata is stripped;
- Easel's JSON record and the AUTOMATIC1111 parameters: how the picture was made; the record holds a
  hash of the pixels, so an edit after generation shows.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import asdict, dataclass

from PIL import Image

from . import provenance
from .content_credentials import ContentCredentials
from .metadata import parse_parameters, read_parameters
from .request import Limits
from .validation import load_picture


@dataclass
class Verification:
    watermark_found: bool
    watermark_bit_agreement: float  # fraction of the payload's bits read back (about 0.5 on unmarked pictures)
    digital_source_type: str | None  # IPTC URI, None if the picture has no such label
    content_credentials: dict | None  # what its C2PA manifest says and whether it holds; None if it has none
    record: dict | None  # Easel's record, None if absent
    pixels_match_record: bool | None  # the pixels are those the record was written for; None: no record, or lossy
    parameters: str | None  # AUTOMATIC1111 parameters text
    summary: str

    def as_dict(self) -> dict:
        return asdict(self)


def verify(source, limits: Limits | None = None, credentials: ContentCredentials | None = None) -> Verification:
    """Read every sign from a picture given as a path, bytes or PIL image (opened with the usual size caps).

    `credentials`: the studio's own, so that manifests signed with its key are recognised as such.
    """
    from . import watermark  # imports OpenCV and the watermark library: only when a picture is checked

    picture = load_picture("image", source, limits or Limits())  # the size caps, then the pixels
    data = _file_bytes(source)  # read once: the metadata and the signature are checked on these bytes
    # The metadata as the file holds it: converting a transparent picture to RGB makes a new image without it.
    with _opened(source if data is None else data) as file:
        record, source_type = provenance.record_of(file), provenance.source_type_of(file)
        parameters = read_parameters(file)
        lossy = file.format in provenance.LOSSY_FORMATS  # its pixels differ a little from those hashed
        file_format = file.format
    manifest = (credentials or ContentCredentials()).read(data, file_format) if data is not None else None
    content = asdict(manifest) if manifest is not None else None
    reading = watermark.detect(picture)
    matches = (None if record is None or lossy
               else record.get("image_sha256") == provenance.pixel_sha256(picture))
    return Verification(reading.found, round(reading.bit_agreement, 3), source_type, content, record, matches,
                        parameters, _summary(reading.found, source_type, content, record, matches, parameters))


def _opened(source) -> contextlib.AbstractContextManager:
    if isinstance(source, Image.Image):
        return contextlib.nullcontext(source)
    return Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)


def _file_bytes(source) -> bytes | None:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    if isinstance(source, Image.Image):  # a picture in memory has no file to check a signature over
        return None
    with open(source, "rb") as file:
        return file.read()


def _summary(marked: bool, source_type: str | None, content: dict | None, record: dict | None,
             matches: bool | None, parameters: str | None) -> str:
    lines = [
        "Made by Easel: its invisible watermark is in the pixels." if marked else
        "No Easel watermark found (the picture is not Easel's, too small, or heavily edited or cropped).",
        _credentials_line(content),
        f"Labelled as {_label(source_type)} (IPTC digital source type)." if source_type else
        "No label saying how it was made (no IPTC digital source type).",
    ]
    if record is not None:
        # Values from the file are quoted as code: a crafted file must not add words to the verdict.
        version = _quoted(record.get("easel_version", "?"))
        model = _quoted(record.get("model", {}).get("name", "?"))
        seed = _quoted(record.get("parameters", {}).get("seed", "?"))
        lines.append(f"Easel {version} record: model {model}, seed {seed}; "
                     + ("the pixels are the ones it was written for." if matches else
                        "saved as JPEG or WebP, so its pixels cannot be checked against it exactly." if matches is None
                        else "the pixels were changed after it was written."))
    if parameters:
        made_by = parse_parameters(parameters).get("settings", {}).get("Version")
        lines.append(f"Generation parameters present (written by {_quoted(made_by) if made_by else 'an unknown tool'}).")
    return "\n".join(lines)


def _credentials_line(content: dict | None) -> str:
    if content is None:
        return "No C2PA Content Credentials."
    label = f", saying {_label(content['digital_source_type'])}" if content["digital_source_type"] else ""
    if content["state"] == "Invalid":
        problems = ", ".join(_quoted(code) for code in content["problems"][:3])
        return f"C2PA Content Credentials that no longer hold: the file was changed after signing ({problems})."
    if content["state"] == "Trusted":
        return f"C2PA Content Credentials signed with this studio's key{label}."
    return (f"C2PA Content Credentials with a valid signature by {_quoted(content['signer'] or '?')}{label}; "
            "a signer this studio does not know.")


def _quoted(value) -> str:
    text = " ".join(str(value).split())[:80].replace("`", "'")
    return f"`{text}`"


def _label(source_type: str) -> str:
    name = source_type.rsplit("/", 1)[-1]
    return {"trainedAlgorithmicMedia": "AI-generated",
            "compositeWithTrainedAlgorithmicMedia": "partly AI-generated",
            "algorithmicallyEnhanced": "enhanced by an algorithm"}.get(name, name)
