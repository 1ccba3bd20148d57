"""The generation settings every tab shares, declared once: name, label, widget, default, A1111's names.

Each entry is one field of GenerationRequest. The page builds its settings panel from these entries and
takes them in this order after each tab's own inputs; "Send to" and PNG Info fill them by name; the
AUTOMATIC1111-compatible API maps its fields to them by `api`. A new shared setting is one entry here,
its field in GenerationRequest and its use in the engine (plus a parameter of that name in each tab's
handler: tests/test_shared_settings.py checks they agree). `batch_count` alone is the page's, not the
request's: the runner repeats the request.

No torch and no Gradio here: the page and the API both read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Widget:
    """How the page shows a setting. Bounds given as text name a limit of the engine (EngineInfo's field)."""

    kind: str  # "text", "choice", "slider", "number" or "checkbox"
    minimum: float | str | None = None
    maximum: float | str | None = None
    step: float | None = None
    options: dict = field(default_factory=dict)  # more of the widget's own arguments (lines, precision, ...)


@dataclass(frozen=True)
class SharedSetting:
    name: str  # the GenerationRequest field, the tab handler's parameter and the Gradio API's parameter
    label: str
    widget: Widget
    default: Any = None  # None: the model's own default, filled in by the page from what the engine says
    api: str | None = None  # AUTOMATIC1111's API field (`/sdapi/v1/txt2img`), where it is named otherwise
    parsed: str | None = None  # the key metadata.parse_parameters gives it when reading A1111's infotext
    info: str = ""  # one line under the widget: what it does


SHARED_SETTINGS: tuple[SharedSetting, ...] = (
    SharedSetting("prompt", "Prompt", Widget("text", options={"lines": 3, "placeholder": "What to paint"}),
                  default="", parsed="prompt"),
    SharedSetting("negative_prompt", "Negative prompt",
                  Widget("text", options={"lines": 2, "placeholder": "What to avoid"}), default="",
                  parsed="negative_prompt"),
    SharedSetting("model", "Model", Widget("choice"), api="sd_model_checkpoint", parsed="Model",
                  info="The family (SD 1.x, SDXL...) is read from the weights; picking a model sets its usual size"),
    SharedSetting("sampler", "Sampler", Widget("choice"), api="sampler_name", parsed="sampler",
                  info="DPM++ 2M Karras for 20-30 steps, Euler a for few"),
    SharedSetting("steps", "Steps", Widget("slider", 1, "max_steps", 1), parsed="steps",
                  info="20-30 usually; 1-4 for turbo"),
    SharedSetting("guidance_scale", "Guidance (CFG scale)", Widget("slider", 0, 30, 0.5), default=7.0,
                  api="cfg_scale", parsed="cfg_scale",
                  info="Prompt adherence: 5-9 (FLUX.1: 3-4); 0-1 turbo"),
    SharedSetting("width", "Width", Widget("slider", 64, "max_side", 8), parsed="width",
                  info="Pixels, ×8; best at 512 (SD 1.x), 1024 (SDXL)"),
    SharedSetting("height", "Height", Widget("slider", 64, "max_side", 8), parsed="height",
                  info="Pixels, a multiple of 8"),
    SharedSetting("seed", "Seed (-1: random)", Widget("number", -1, 2**32 - 1, options={"precision": 0}), default=-1,
                  parsed="seed", info="The same seed and settings give the same picture again; 0 to 4294967295"),
    SharedSetting("batch_size", "Batch size", Widget("slider", 1, "max_batch", 1), default=1,
                  info="Pictures made at once, seeds one apart"),
    SharedSetting("clip_skip", "CLIP skip", Widget("slider", 1, 12, 1), default=1, parsed="clip_skip",
                  info="2 reads SD 1.x's text encoder one layer earlier, as many anime models expect (A1111's "
                       "setting); not used for SD 2.x and SDXL"),
    SharedSetting("vae", "VAE", Widget("choice"), default="Automatic", parsed="VAE",
                  info="Automatic: the model's own; or a VAE from your VAE folder"),
    SharedSetting("styles", "Styles", Widget("choice", options={"multiselect": True}), default=(), api="styles",
                  info="A1111 styles (styles.csv), added to both prompts when the picture is made"),
    # the "Advanced" ones: off unless asked for
    SharedSetting("tiling", "Tiling", Widget("checkbox"), default=False, parsed="Tiling",
                  info="The picture repeats seamlessly, left to right and top to bottom (textures, patterns)"),
    SharedSetting("freeu", "FreeU", Widget("checkbox"), default=False, parsed="FreeU",
                  info="Richer detail at no cost, with the published values for the model's family"),
    SharedSetting("pag_scale", "PAG scale", Widget("slider", 0, 10, 0.1), default=0.0, parsed="PAG scale",
                  info="Perturbed-attention guidance: 0 off, 2-3 firmer structure; each step costs half as much again"),
    # speed: off unless asked for (the engine's --decode is the page's default)
    SharedSetting("decode", "Decode", Widget("choice"), parsed="VAE Decoder",
                  info="fast: TAESD, about a hundred times cheaper than the VAE and a little softer; it pays most on "
                       "a CPU, where a full decode costs as much as several steps"),
    SharedSetting("feature_cache", "Feature cache", Widget("slider", 0, 10, 1), default=0, parsed="Feature cache",
                  info="N > 1: the model's deep features are reused between every N-th full step: faster, a little "
                       "different (0: off)"),
    # A1111's variation seed, beside the seed on the page
    SharedSetting("subseed", "Variation seed (-1: random)", Widget("number", -1, 2**32 - 1, options={"precision": 0}),
                  default=-1, parsed="Variation seed", info="The seed the picture moves toward"),
    SharedSetting("subseed_strength", "Variation strength", Widget("slider", 0, 1, 0.01), default=0.0,
                  parsed="Variation seed strength", info="0: the seed's picture; 1: the variation seed's"),
    SharedSetting("seed_resize_from_w", "Resize seed from width", Widget("slider", 0, "max_side", 8), default=0,
                  info="0: off; else the seed's noise as drawn for this size, so a seed keeps its look at a new size"),
    SharedSetting("seed_resize_from_h", "Resize seed from height", Widget("slider", 0, "max_side", 8), default=0),
    # not a request's: the page runs the request this many times, seeds continuing (ui/runner.py)
    SharedSetting("batch_count", "Batch count", Widget("slider", 1, 16, 1), default=1, api="n_iter",
                  info="Batches one after the other, seeds continuing"),
)
BY_NAME = {setting.name: setting for setting in SHARED_SETTINGS}
NAMES = tuple(BY_NAME)
# The A1111 API's names for the engine's fields, where they differ.
API_NAMES = {setting.name: setting.api for setting in SHARED_SETTINGS if setting.api}


def in_order(values: dict, missing: Any = None) -> list:
    """`values` (by setting name) as a list in the declared order; `missing` for the settings it lacks."""
    return [values.get(name, missing) for name in NAMES]


def from_infotext(parsed: dict) -> dict:
    """The shared settings found in parse_parameters' result, by setting name (raw: not checked here)."""
    found = {}
    for setting in SHARED_SETTINGS:
        if setting.parsed is None:
            continue
        value = parsed.get(setting.parsed, parsed.get("settings", {}).get(setting.parsed))
        if value is not None:
            found[setting.name] = value
    return found
