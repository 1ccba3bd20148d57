"""PNG Info: read the parameters of a picture made by Easel or by AUTOMATIC1111, and send them to a tab.

Sending fills the tab's prompt and settings (and, for the tabs that start from a picture, the picture
itself). A text-to-image picture sent to text to image is made again by Generate: same model, same pixels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import gradio as gr
from PIL import Image

from pipelines import load_picture, parse_parameters, read_parameters, record_of
from pipelines import shared_from_infotext as from_infotext

from .common import shared_values
from .errors import guard
from .uploads import uploaded

SEND_TARGETS = ("txt2img", "img2img", "inpaint", "controlnet")


@dataclass
class PngInfoPanel:
    image: gr.Image
    parameters: gr.Textbox
    send: dict  # target tab -> its "send to" button


def create(studio) -> PngInfoPanel:
    with gr.Row():
        with gr.Column():
            image = gr.Image(label="Picture", type="filepath", format="png", sources=["upload", "clipboard"],
                             elem_id="png-info-image")
        with gr.Column():
            parameters = gr.Textbox(label="Parameters", lines=6, interactive=False, buttons=["copy"],
                                    elem_id="png-info-parameters")
            record = gr.JSON(label="Easel's record (how it was made)", elem_id="png-info-record")
            with gr.Row():
                send = {target: gr.Button(f"Send to {target}", size="sm", elem_id=f"png-info-send-{target}")
                        for target in SEND_TARGETS}

    def read(payload):
        if payload is None:
            return "", None
        source = uploaded(payload, "image")
        load_picture("image", source, studio.manager.settings.limits)  # refuse what is not a picture, or too big
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as file:
            text, found = read_parameters(file) or "", record_of(file)
        if not text and found is None:
            gr.Info("This picture carries no generation parameters.")
        return text, found

    # preprocess=False: the file as uploaded (Gradio would re-encode it and drop the metadata)
    image.change(guard(read), image, [parameters, record], api_name="png_info", preprocess=False)
    return PngInfoPanel(image, parameters, send)


def settings_from(text: str, info) -> tuple[list, list[str]]:
    """Values for a tab's shared settings (in their declared order) from parameters text; what was not used."""
    parsed = parse_parameters(text or "")
    values = from_infotext(parsed)
    values.pop("batch_size", None)  # a picture's batch is not a setting to carry over
    # what an infotext leaves out means the default (A1111 reads a missing "Clip skip" as 1); LoRA tags and
    # embedding names need nothing: they are in the prompt, which is sent as it is
    values.setdefault("clip_skip", 1)
    values.setdefault("vae", "Automatic")
    values["styles"] = []  # the prompts read hold their styles already: choosing them again would add them twice
    # on or off as the picture was made: "Tiling: True", "FreeU: b1 1.5 ...", "PAG scale: 3" are written when on
    values["tiling"] = values.get("tiling") == "True"
    values.setdefault("subseed", -1)  # no variation written: none
    values.setdefault("subseed_strength", 0.0)
    width, _, height = parsed["settings"].get("Seed resize from", "0x0").partition("x")
    try:
        values["seed_resize_from_w"], values["seed_resize_from_h"] = int(width), int(height)
    except ValueError:  # a hand-edited file's nonsense: off
        values["seed_resize_from_w"] = values["seed_resize_from_h"] = 0
    values["freeu"] = "freeu" in values
    values["decode"] = "fast" if values.get("decode") == "TAESD" else "full"  # A1111's "VAE Decoder" names it
    try:
        values["feature_cache"] = int(values.get("feature_cache", 0))
    except ValueError:  # a hand-edited file's nonsense: off
        values["feature_cache"] = 0
    try:
        values["pag_scale"] = float(values.get("pag_scale", 0))
    except ValueError:  # a hand-edited file's nonsense: off
        values["pag_scale"] = 0.0
    if values.get("sampler") and parsed["settings"].get("Schedule type", "").lower() == "karras":
        values["sampler"] = f"{values['sampler']} Karras"  # A1111 1.10 writes these apart
    skipped = []
    if values.get("model") and values["model"] not in info.models:
        skipped.append(f"model {values.pop('model')!r} (not in this library: the current model stays)")
    if values.get("vae") and values["vae"] not in info.vae_choices:
        skipped.append(f"VAE {values.pop('vae')!r} (not in your VAE folder: the current VAE stays)")
    if values.get("sampler") and values["sampler"] not in info.samplers:
        skipped.append(f"sampler {values.pop('sampler')!r} (unknown here: the current sampler stays)")
    return shared_values(values), skipped
