"""Tell, for any picture, whether Easel made it and what its metadata says.

Three independent signs, from the sturdiest to the most fragile:
- the invisible watermark, in the pixels: survives JPEG re-encoding and halving, not crops;
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
from .metadata import parse_parameters, read_parameters
from .request import Limits, load_picture


@dataclass
class Verification:
    watermark_found: bool
    watermark_bit_agreement: float  # fraction of the payload's bits read back (about 0.5 on unmarked pictures)
    digital_source_type: str | None  # IPTC URI, None if the picture has no such label
    record: dict | None  # Easel's record, None if absent
    pixels_match_record: bool | None  # the pixels are those the record was written for; None: no record, or lossy
    parameters: str | None  # AUTOMATIC1111 parameters text
    summary: str

    def as_dict(self) -> dict:
        return asdict(self)


def verify(source, limits: Limits | None = None) -> Verification:
    """Read every sign from a picture given as a path, bytes or PIL image (opened with the usual size caps)."""
    from . import watermark  # imports OpenCV and the watermark library: only when a picture is checked

    picture = load_picture("image", source, limits or Limits())  # the size caps, then the pixels
    # The metadata as the file holds it: converting a transparent picture to RGB makes a new image without it.
    with _opened(source) as file:
        record, source_type = provenance.record_of(file), provenance.source_type_of(file)
        parameters = read_parameters(file)
        lossy = file.format in provenance.LOSSY_FORMATS  # its pixels differ a little from those hashed
    reading = watermark.detect(picture)
    matches = (None if record is None or lossy
               else record.get("image_sha256") == provenance.pixel_sha256(picture))
    return Verification(reading.found, round(reading.bit_agreement, 3), source_type, record, matches, parameters,
                        _summary(reading.found, source_type, record, matches, parameters))


def _opened(source) -> contextlib.AbstractContextManager:
    if isinstance(source, Image.Image):
        return contextlib.nullcontext(source)
    return Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)


def _summary(marked: bool, source_type: str | None, record: dict | None, matches: bool | None,
             parameters: str | None) -> str:
    lines = [
        "Made by Easel: its invisible watermark is in the pixels." if marked else
        "No Easel watermark found (the picture is not Easel's, too small, or heavily edited or cropped).",
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


def _quoted(value) -> str:
    text = " ".join(str(value).split())[:80].replace("`", "'")
    return f"`{text}`"


def _label(source_type: str) -> str:
    name = source_type.rsplit("/", 1)[-1]
    return {"trainedAlgorithmicMedia": "AI-generated",
            "compositeWithTrainedAlgorithmicMedia": "partly AI-generated"}.get(name, name)
