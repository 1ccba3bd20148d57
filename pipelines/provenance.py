"""Everything a picture says about itself once written: parameters, a record of how it was made, and labels.

Every door (the studio's pages, the AUTOMATIC1111-compatible API, the Gradio API) writes pictures
through this module, so every picture carries the same things:
- the AUTOMATIC1111 `parameters` text other tools read (PNG: text chunk; JPEG/WebP: EXIF UserComment,
  where AUTOMATIC1111 puts it);
- a versioned JSON record with what that text cannot hold: model source and revision or file hash,
  ControlNets, hashes of the input pictures, the scheduler's configuration, memory fallbacks, Easel's
  version, the parent picture when one was reworked (PNG: text chunk `easel`; JPEG/WebP: in the XMP);
- the IPTC digital source type in XMP (PNG: text chunk `XML:com.adobe.xmp`; JPEG/WebP: their XMP
  segment; where Adobe's tools, exiftool and the IPTC's own checker look), saying it was generated;
- C2PA Content Credentials, signed last, over all of the above (see content_credentials.py).
The invisible watermark is in the pixels already: the engine adds it (see watermark.py).
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from PIL import Image

from . import detailer, freeu, hires, model_folders, outpaint
from .metadata import exif_with_parameters, format_parameters, save_png
from .version import VERSION

log = logging.getLogger(__name__)
_signing_failure_reported = False

RECORD_KEY = "easel"
RECORD_SCHEMA = "easel.generation"
RECORD_VERSION = 1
XMP_KEY = "XML:com.adobe.xmp"
IPTC_SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
GENERATED = IPTC_SOURCE_TYPES + "trainedAlgorithmicMedia"  # made by a model from a prompt
COMPOSITE = IPTC_SOURCE_TYPES + "compositeWithTrainedAlgorithmicMedia"  # a user's picture partly regenerated
ENHANCED = IPTC_SOURCE_TYPES + "algorithmicallyEnhanced"  # a user's picture upscaled, its faces restored, filtered

# Picture formats a user may name, as Pillow names them. JPEG and WebP are lossy: smaller files, but their
# pixels are no longer exactly those the record's hash was taken of.
FILE_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP"}
SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}
LOSSY_FORMATS = ("JPEG", "WEBP")  # as Easel writes them
LOSSY_QUALITY = 90  # the watermark reads back after JPEG at 90 (docs/WATERMARK.md)
XMP_NAMESPACE = "urn:easel:xmp:1.0/"  # where a JPEG's or WebP's XMP holds Easel's record

_XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:easel="{namespace}"
    Iptc4xmpExt:DigitalSourceType={source_type}
    xmp:CreatorTool={creator}>{record}</rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""
# Read with patterns, not an XML parser: uploaded files are untrusted, and XML parsers can be made to expand
# entities without end (Pillow stopped parsing XMP with Python's xml module for the same reason).
_SOURCE_TYPE_IN_XMP = re.compile(r"DigitalSourceType(?:=\"|>)\s*([^\"<\s]+)")
_RECORD_IN_XMP = re.compile(r"<easel:record>([^<]*)</easel:record>")


def pillow_format(name: str) -> str:
    """Pillow's name of a picture format a user names (png, jpg, jpeg or webp, any case)."""
    try:
        return FILE_FORMATS[str(name).strip().lower()]
    except KeyError:
        raise ValueError(f"unknown picture format {name!r}; choose one of: png, jpg, webp") from None


def pixel_sha256(image: Image.Image) -> str:
    """A hash of what a picture shows (mode, size, pixels), whatever file format carries it."""
    digest = hashlib.sha256(f"{image.mode} {image.width}x{image.height}\n".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def record_of(image: Image.Image) -> dict | None:
    """The Easel record a picture carries, or None (not Easel's, or its metadata was stripped)."""
    text = _text_chunks(image).get(RECORD_KEY)
    if text is None:  # a JPEG or WebP keeps it in its XMP
        found = _RECORD_IN_XMP.search(_xmp_of(image))
        text = html.unescape(found.group(1)) if found else None
    try:
        record = json.loads(text) if text else None
    except ValueError:
        return None
    if not (isinstance(record, dict) and record.get("schema") == RECORD_SCHEMA
            and record.get("schema_version") == RECORD_VERSION):
        return None
    # A file can say anything: the parts read elsewhere must at least have the shape Easel writes.
    shapes = {"model": dict, "parameters": dict, "image_sha256": str, "easel_version": str}
    if any(key in record and not isinstance(record[key], kind) for key, kind in shapes.items()):
        return None
    return record


def source_type_of(image: Image.Image) -> str | None:
    """The IPTC digital source type in a picture's XMP, if it has one."""
    found = _SOURCE_TYPE_IN_XMP.search(_xmp_of(image))
    return found.group(1) if found else None



def source_type(reworks_a_picture: bool, parent: dict | None) -> str:
    """Generated from a prompt, or a user's picture partly regenerated (a generated parent stays generated)."""
    return COMPOSITE if reworks_a_picture and parent is None else GENERATED


def labels(request, vae_file, network_hashes: dict, family: str | None = None) -> dict:
    """What the infotext adds for a run, with A1111's names: the VAE and its hash, CLIP skip (when not 1), tiling,
    the LoRA and embedding hashes (networks.py); and Easel's FreeU (its values for the `family`) and PAG scale."""
    added = {}
    if vae_file is not None:
        added.update({"VAE hash": model_folders.full_hash(vae_file)[:10], "VAE": request.vae})
    if request.clip_skip > 1:
        added["Clip skip"] = request.clip_skip
    if request.tiling:
        added["Tiling"] = True
    if request.freeu and family is not None:
        added["FreeU"] = freeu.label(family)
    if request.pag_scale:
        added["PAG scale"] = request.pag_scale
    added.update(network_hashes)
    return added


def infotext(request, model_name: str, model_hash: str | None, seed: int, fallbacks: list[str],
             controlnet_names: list[str], labels: dict | None = None) -> str:
    """One picture's parameters in AUTOMATIC1111's text, with A1111's names for each setting."""
    labels = dict(labels or {})
    # FLUX.1: Forge's names; its true CFG is off (1), the guidance set is the distilled one the model reads
    guidance = ({"CFG scale": 1, "Distilled CFG Scale": labels.pop("Distilled CFG Scale")}
                if "Distilled CFG Scale" in labels else {"CFG scale": request.guidance_scale})
    settings = {
        "Steps": request.steps, "Sampler": request.sampler, **guidance, "Seed": seed,
        "Face restoration": request.restore_faces,  # A1111 writes it here, the restorer's name (None: left out)
        "Size": f"{request.width}x{request.height}", "Model hash": model_hash, "Model": model_name,
    }
    # A1111's order: the VAE after the model, then the variation seed
    for key in ("VAE hash", "VAE", "Variation seed", "Variation seed strength", "Seed resize from"):
        if key in labels:
            settings[key] = labels.pop(key)
    if request.image is not None or request.hires is not None:
        settings["Denoising strength"] = request.strength
    if request.mask is not None:
        settings["Mask blur"] = request.mask_blur
        if request.inpaint_only_masked:
            settings["Inpaint area"] = "Only masked"
            settings["Masked area padding"] = request.only_masked_padding
    for i, unit in enumerate(request.control_units):
        settings[f"ControlNet {i}"] = (
            f"Module: {unit.preprocessor}, Model: {controlnet_names[i]}, "
            f"Weight: {unit.conditioning_scale:g}, Guidance Start: {unit.start:g}, Guidance End: {unit.end:g}"
        )
    if request.outpaint is not None:
        settings["Outpaint"] = outpaint.label(request.outpaint)  # Easel's own: A1111's outpainting writes nothing
    if request.hires is not None:
        settings.update(hires.labels(request))  # Hires upscale, Hires steps, Hires upscaler, ...
    if request.detailer is not None:
        settings.update(detailer.labels(request))  # ADetailer model, ADetailer denoising strength, ...
    settings.update(labels)  # Clip skip, Lora hashes, TI hashes
    if fallbacks:
        settings["Memory fallback"] = "; ".join(fallbacks)
    settings["Version"] = f"Easel {VERSION}"
    return format_parameters({"prompt": request.prompt, "negative_prompt": request.negative_prompt,
                              "settings": settings, "template": request.prompt_template,
                              "negative_template": request.negative_template})


def made_with(request, entry, base, scheduler, controlnet_names: list[str], maps: list, mode: str,
              fallbacks: list[str], watermarked: bool, labels: dict | None = None) -> dict:
    """What the record says made a run's pictures, beyond its parameters: model, ControlNets, inputs, parent."""
    parent = record_of(request.image) if request.image is not None else None
    if parent is not None and parent.get("image_sha256") != pixel_sha256(request.image):
        parent = None  # painted over, resized or a record copied onto another picture: not Easel's as it is
    reworks = request.image is not None or request.mask is not None
    return {
        "easel_version": VERSION,
        "digital_source_type": source_type(reworks, parent),
        "model": {"name": entry.name, "source": entry.source, "family": base.family, **base.identity},
        "controlnets": [{"model": name, "control_type": unit.control_type, "preprocessor": unit.preprocessor,
                         "control_image_sha256": pixel_sha256(unit.image) if unit.image is not None else None,
                         "control_map_sha256": pixel_sha256(control_map)}
                        for name, unit, control_map in zip(controlnet_names, request.control_units, maps)],
        "inputs": {name: pixel_sha256(picture) if picture is not None else None
                   for name, picture in (("image_sha256", request.image), ("mask_sha256", request.mask))},
        "parent_image_sha256": parent.get("image_sha256") if parent else None,
        "scheduler": {"class": type(scheduler).__name__,
                      "config": {k: v for k, v in scheduler.config.items() if not k.startswith("_")}},
        # the LoRAs, embeddings and VAE by A1111's hashes, CLIP skip: what else shaped the picture
        "extra_networks": dict(labels or {}),
        "offload_mode": mode,
        "memory_fallbacks": list(fallbacks),
        "watermark": _watermark_description() if watermarked else None,
    }


def postprocess_record(original: Image.Image, made: Image.Image, settings: dict, done: dict, model_files: dict,
                       watermarked: bool) -> dict:
    """The record of an Extras result: the parent picture (its record's model and parameters when it is Easel's,
    unchanged), the Extras settings, what they did, and the model files that did it, by sha256."""
    parent = record_of(original)
    if parent is not None and parent.get("image_sha256") != pixel_sha256(original):
        parent = None
    made_with = {
        "easel_version": VERSION,
        # a generated picture stays generated when upscaled; a user's own photo is enhanced, not generated
        "digital_source_type": parent.get("digital_source_type", GENERATED) if parent else ENHANCED,
        **({"model": parent["model"]} if parent and "model" in parent else {}),
        "inputs": {"image_sha256": pixel_sha256(original)},
        "parent_image_sha256": parent.get("image_sha256") if parent else None,
        "postprocess": {"settings": dict(settings), "done": dict(done),
                        "models": {name: model_folders.full_hash(path) for name, path in model_files.items()}},
        "watermark": _watermark_description() if watermarked else None,
    }
    return make_record(made, dict(parent.get("parameters", {})) if parent else {}, made_with)


def _watermark_description() -> dict:
    from . import watermark  # OpenCV: not needed when the mark is off

    # The mark is invisible-watermark's dwtDctSvd format (Easel implements it: watermark.py).
    return {"library": "invisible-watermark", "method": watermark.DEFAULT_METHOD, "payload": watermark.PAYLOAD.hex()}


def make_record(image: Image.Image, parameters: dict[str, Any], made_with: dict[str, Any]) -> dict:
    """The JSON record of one picture: its parameters, what made it, and the hash of its pixels."""
    return {"schema": RECORD_SCHEMA, "schema_version": RECORD_VERSION, **made_with, "parameters": parameters,
            "image_sha256": pixel_sha256(image)}


def write_png(result, index: int, target) -> None:
    """Write picture `index` of a GenerationResult as PNG, with its parameters, record and labels."""
    write_picture(result, index, target, "png")


def write_picture(result, index: int, target, file_format: str = "png") -> None:
    """Write picture `index` as PNG, JPEG or WebP (to a path or a binary file), with everything it carries."""
    data = picture_bytes(result, index, file_format)
    if isinstance(target, (str, os.PathLike)):
        Path(target).write_bytes(data)
    else:
        target.write(data)


def png_bytes(result, index: int) -> bytes:
    return picture_bytes(result, index, "png")


def picture_bytes(result, index: int, file_format: str = "png") -> bytes:
    """The file of picture `index`: parameters, record and labels, then the C2PA manifest signed over them all."""
    kind = pillow_format(file_format)
    record = result.records[index] if result.records else None
    buffer = io.BytesIO()
    if kind == "PNG":
        extra = {RECORD_KEY: _record_json(record), XMP_KEY: _xmp(record)} if record is not None else {}
        save_png(result.images[index], buffer, result.infotexts[index], extra)
    else:
        options = {"exif": exif_with_parameters(result.infotexts[index]), "quality": LOSSY_QUALITY}
        if record is not None:
            options["xmp"] = _xmp(record, embed={**record, "file_format": kind.lower()}).encode("utf-8")
        result.images[index].convert("RGB").save(buffer, format=kind, **options)
    data = buffer.getvalue()
    credentials = getattr(result, "credentials", None)
    if credentials is not None and record is not None:
        data = _signed(credentials, data, kind, record["digital_source_type"])
    return data


def _signed(credentials, data: bytes, kind: str, source_type: str) -> bytes:
    """The file with its C2PA manifest; without one if signing fails (said once): a picture is never lost to it."""
    global _signing_failure_reported
    try:
        return credentials.sign(data, kind, source_type)
    except Exception as error:  # noqa: BLE001 - the c2pa library's errors, an unwritable key folder, ...
        if not _signing_failure_reported:
            _signing_failure_reported = True
            log.warning("pictures are written without C2PA Content Credentials: signing failed (%s: %s)",
                        type(error).__name__, error)
        return data


def png_of(image: Image.Image, infotext: str) -> bytes:
    """A picture that is not a generation result (a control map, a preview) as PNG, with text if any."""
    buffer = io.BytesIO()
    save_png(image, buffer, infotext)
    return buffer.getvalue()


def _record_json(record: dict) -> str:
    return json.dumps(_strict_json(record), ensure_ascii=False, sort_keys=True, default=str)


def _xmp(record: dict, embed: dict | None = None) -> str:
    """The XMP packet: the digital source type, the creator tool, and the record itself when `embed` is given."""
    inside = f"\n    <easel:record>{escape(_record_json(embed))}</easel:record>\n  " if embed is not None else ""
    return _XMP.format(namespace=XMP_NAMESPACE, source_type=quoteattr(record["digital_source_type"]),
                       creator=quoteattr(f"Easel {record['easel_version']}"), record=inside)


def _xmp_of(image: Image.Image) -> str:
    xmp = _text_chunks(image).get(XMP_KEY) or image.info.get("xmp") or ""  # PNG's chunk, or JPEG's/WebP's segment
    return xmp.decode("utf-8", errors="replace") if isinstance(xmp, bytes) else str(xmp)


def _strict_json(value):
    """Infinities and NaN (a scheduler's config has -inf) as text: strict JSON readers refuse them as numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict_json(item) for item in value]
    return value


def _text_chunks(image: Image.Image) -> dict:
    try:
        return dict(getattr(image, "text", None) or image.info)  # .text also reads chunks after the pixels
    except (OSError, ValueError):  # a truncated file
        return dict(image.info)
