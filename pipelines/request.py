"""What a user asks for and what they get back: the request and result types every door builds and reads.

Every door into the engine (the UI tabs, the Gradio API, the HTTP API) builds a `GenerationRequest`; the
manager checks it with `validation.validate`, the one place a request is checked, whose `InvalidRequest`
(errors.py) names the field and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import GenerationCancelled

TASKS = ("txt2img", "img2img", "inpaint", "controlnet")
DECODES = ("full", "fast")  # the model's VAE, or the tiny autoencoder (fast_decode.py)
MAX_FEATURE_CACHE = 10  # a full denoiser pass at least every 10 steps: beyond that the picture falls apart
RESIZE_MODES = ("resize", "crop", "fill")  # stretch, crop to fill, or fit and pad with the edge colour
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Limits:
    """Caps that protect the machine. An operator exposing the app tightens them."""

    max_side: int = 2048
    max_pixels: int = 2048 * 2048  # width x height of one output image
    max_steps: int = 150
    max_batch: int = 8
    max_prompt_chars: int = 10_000
    max_input_pixels: int = 40_000_000  # larger uploads are refused before decoding (decompression bombs)
    max_control_units: int = 3
    max_plot_pictures: int = 64  # pictures one X/Y/Z plot may make (cells x batch size)
    max_image_prompts: int = 4  # IP-Adapter reference pictures in one request


@dataclass
class ControlUnit:
    """One ControlNet: its type, the picture that guides it, and how strongly and when it guides."""

    control_type: str
    image: Any = None  # a picture; turned into a control map by the type's preprocessor
    conditioning_scale: float = 1.0
    start: float = 0.0  # fraction of the denoising steps where this unit starts to act
    end: float = 1.0
    preprocessor: str | None = None  # None: the type's default; "none": `image` already is a control map
    preprocessor_params: dict = field(default_factory=dict)  # e.g. canny's low_threshold and high_threshold
    model: str | None = None  # a ControlNet other than the library's one for this type


@dataclass
class HiresFix:
    """A1111's hires fix for text to image: a second pass that redraws the picture larger (hires.py)."""

    scale: float = 2.0  # A1111's hr_scale, used when neither resize_x nor resize_y is set
    resize_x: int = 0  # A1111's hr_resize_x / hr_resize_y: 0 keeps the shape from the other side
    resize_y: int = 0
    upscaler: str | None = None  # a latent mode ("Latent", ...) or a pixel upscaler; None: "Latent"
    steps: int = 0  # the second pass's steps; 0: the first pass's
    sampler: str | None = None  # None: the first pass's
    prompt: str = ""  # "": the first pass's
    negative_prompt: str = ""


@dataclass
class Outpaint:
    """Extend the canvas and paint the new area (outpaint.py), through the inpaint path."""

    left: int = 0  # pixels added on each side
    right: int = 0
    up: int = 0
    down: int = 0
    fill: str = "edges"  # what the new area starts from: "edges" (the picture's edge colours, blurred) or "noise"
    color_variation: float = 0.05  # "noise": 0 grey noise, 1 noise of every colour (A1111 mk2's Color variation)


@dataclass
class DetailerUnit:
    """One detailer pass (ADetailer's tab): what to find, and how to redraw each find (detailer.py).
    The fields are ADetailer's `ad_*` ones, without the prefix, with its defaults."""

    model: str = "face_dlib"  # the detector (detailer.DETECTORS)
    prompt: str = ""  # "": the picture's prompt
    negative_prompt: str = ""
    confidence: float = 0.3
    mask_k_largest: int = 0  # only the k largest finds; 0: all
    mask_min_ratio: float = 0.0  # finds smaller or larger than these shares of the picture are left alone
    mask_max_ratio: float = 1.0
    x_offset: int = 0  # the mask moved right / up by these pixels
    y_offset: int = 0
    dilate_erode: int = 4  # the mask grown (or, negative, shrunk) by these pixels
    mask_merge_invert: str = "None"  # "Merge": one pass over all finds; "Merge and Invert": all but them
    mask_blur: int = 4
    denoising_strength: float = 0.4
    inpaint_only_masked: bool = True  # redraw a crop around each find at the inpaint size, paste it back
    inpaint_only_masked_padding: int = 32
    inpaint_width: int = 0  # 0: the picture's width (ADetailer's "use inpaint width/height" off)
    inpaint_height: int = 0
    steps: int = 0  # 0: the run's
    cfg_scale: float | None = None  # None: the run's
    sampler: str | None = None  # None: the run's


@dataclass
class Detailer:
    units: list[DetailerUnit] = field(default_factory=lambda: [DetailerUnit()])
    skip_img2img: bool = False  # image to image: detail the starting picture as it is, without the main pass


IMAGE_PROMPT_MODES = ("full", "style", "composition")  # IP-Adapter as trained; InstantStyle's style or layout layer


@dataclass
class ImagePrompt:
    """One IP-Adapter reference picture (ip_adapter.py): it steers the picture by its weight, in a mode."""

    image: Any = None
    weight: float = 1.0
    mode: str = "full"  # IMAGE_PROMPT_MODES
    model: str | None = None  # an IP-Adapter's name; None: the first the library has for the model's family


@dataclass
class PlotAxis:
    """One axis of an X/Y/Z plot: A1111's axis type ("Steps", "Prompt S/R", ...) and its values as typed."""

    type: str = "Nothing"
    values: str = ""  # A1111's: comma-separated, with ranges "1-5", "1-9 (+2)", "0.5-1.5 [3]"


@dataclass
class Plot:
    """A1111's X/Y/Z plot script (xyz_plot.py): the request made once per cell, the pictures laid out as a grid."""

    x: PlotAxis = field(default_factory=PlotAxis)
    y: PlotAxis = field(default_factory=PlotAxis)
    z: PlotAxis = field(default_factory=PlotAxis)
    draw_legend: bool = True
    margin_size: int = 0  # pixels between the cells


@dataclass
class GenerationRequest:
    task: str = "txt2img"
    model: str | None = None  # a name from the model library; None: the library's default
    prompt: str = ""
    negative_prompt: str = ""
    # the dynamic-prompt templates the prompts were drawn from (wildcards.py), kept for the infotext; "": none
    prompt_template: str = ""
    negative_template: str = ""
    seed: int = -1  # -1: random; image i of a batch uses seed + i
    # A1111's variation seed (variation.py): the noise moved toward subseed's by subseed_strength; seed_resize_from:
    # the seed's noise as drawn for that size (0: off)
    subseed: int = -1  # -1: random, when subseed_strength is above 0
    subseed_strength: float = 0.0
    seed_resize_from_w: int = 0
    seed_resize_from_h: int = 0
    steps: int | None = None  # None: the model's default (few for turbo models)
    guidance_scale: float | None = None
    distilled_guidance: float | None = None  # Forge's distilled_cfg_scale: FLUX.1's guidance when given (else guidance_scale)
    sampler: str | None = None
    width: int | None = None  # None: the init image's size, else the model's default
    height: int | None = None
    batch_size: int = 1
    clip_skip: int = 1  # A1111's CLIP_stop_at_last_layers: 2 reads SD 1.x's text encoder one layer earlier
    vae: str | None = None  # a VAE from the library's folders; None: the model's own
    styles: list[str] = field(default_factory=list)  # names from styles.csv, applied to both prompts in order
    tiling: bool = False  # A1111's: the picture tiles seamlessly (tiling.py)
    freeu: bool = False  # FreeU with the family's published values (freeu.py)
    pag_scale: float = 0.0  # perturbed-attention guidance; 0: off (diffusers' PAG pipelines)
    decode: str | None = None  # "full" (the model's VAE) or "fast" (TAESD, fast_decode.py); None: the engine's --decode
    feature_cache: int = 0  # N > 1: the denoiser's deep features reused between every N-th full pass (feature_cache.py)
    # image-to-image and inpainting
    image: Any = None
    strength: float = 0.75
    resize_mode: str = "resize"
    # inpainting: white in the mask is repainted
    mask: Any = None
    mask_blur: int = 4
    invert_mask: bool = False
    inpaint_only_masked: bool = False  # repaint a crop around the mask at full resolution, paste it back
    only_masked_padding: int = 32
    # outpainting: the canvas grows around `image` and the new area becomes the mask (with `mask`, added to it)
    outpaint: Outpaint | None = None
    # ControlNet: one or more units; with `image` it starts from that picture, with `mask` it inpaints
    control_units: list[ControlUnit] = field(default_factory=list)
    # every task: reference pictures that steer the picture through IP-Adapters
    image_prompts: list[ImagePrompt] = field(default_factory=list)
    # text to image: a second, larger pass at `strength` (A1111's denoising_strength)
    hires: HiresFix | None = None
    # SDXL: the last steps made by a refiner model (refiner.py; A1111's refiner_checkpoint, refiner_switch_at)
    refiner: str | None = None
    refiner_switch_at: float = 0.8  # the share of the steps the model makes before the refiner takes over
    # text to image and image to image: after the picture is made, each find redrawn larger (ADetailer's)
    detailer: Detailer | None = None
    # last, A1111's "Restore faces": a face restorer's name (GFPGAN, CodeFormer) over the faces of each picture
    restore_faces: str | None = None
    codeformer_weight: float = 0.5  # CodeFormer's: 0 its most changed faces, 1 the closest to the picture's
    # the request made once per cell of a grid, an axis' values changing one field (xyz_plot.py)
    plot: Plot | None = None


@dataclass
class ExtrasRequest:
    """A1111's Extras for one picture (extras.py): upscale, restore faces, then filter; each step optional."""

    image: Any = None
    upscaler: str | None = None  # "None" or None: keep the size (A1111's upscaler_1)
    scale: float = 2.0  # A1111's upscaling_resize, used unless resize_to is set
    resize_to: tuple[int, int] | None = None  # (width, height): A1111's "scale to" (upscaling_resize_w/h)
    crop: bool = True  # with resize_to: cut to exactly that size around the centre (A1111's upscaling_crop)
    upscaler_2: str | None = None  # blended in at upscaler_2_visibility
    upscaler_2_visibility: float = 0.0
    gfpgan_visibility: float = 0.0  # 0: no face restoration by GFPGAN; 1: the restored faces alone
    codeformer_visibility: float = 0.0
    codeformer_weight: float = 0.5  # 0: CodeFormer changes the faces most, 1: least
    filters: dict = field(default_factory=dict)  # brightness, contrast, saturation, sharpness, grain (filters.py)


@dataclass
class ModelFacts:
    """What validation needs to know about the chosen model, filled in by the manager."""

    name: str
    family: str  # a key of catalog.FAMILIES: "sd1", "sd2", "sdxl", "sd3", "flux"
    default_size: int
    default_steps: int
    default_guidance: float
    default_sampler: str
    control_types: dict[str, list[str]]  # control type -> families the library has a ControlNet of that type for
    inpainting_only: bool = False  # a 9-channel inpainting checkpoint cannot do the other tasks
    guidance_label: str = "CFG scale"  # FLUX.1: "Distilled CFG Scale", a number the model reads
    max_guidance: float = 30.0
    note: str = ""  # what the family cannot do, for the page to say beside the model (flow_families.family_note)
    fast_decoder: bool = False  # the library names a tiny autoencoder (TAESD) for the family: `decode` may be "fast"


@dataclass
class GenerationResult:
    images: list  # PIL images
    seeds: list[int]
    infotexts: list[str]  # AUTOMATIC1111 `parameters` text, one per image
    parameters: dict  # the resolved request, as plain values
    control_maps: list = field(default_factory=list)  # the maps the ControlNets saw, one per unit
    timings: dict = field(default_factory=dict)  # seconds: load, denoise, decode, total
    offload_mode: str = "none"  # how weights were placed for this run
    fallbacks: list[str] = field(default_factory=list)  # what was done after running out of memory
    warnings: list[str] = field(default_factory=list)  # what was adjusted, for the user to see
    records: list[dict] = field(default_factory=list)  # how each picture was made (provenance.py), one per image
    credentials: object = None  # signs the pictures' C2PA manifests when written (content_credentials.py)
    # each picture's prompts as drawn from a template (wildcards.py); empty: every picture had the request's
    prompts: list[str] = field(default_factory=list)
    negative_prompts: list[str] = field(default_factory=list)


# --- serving -------------------------------------------------------------------------------------


class CancelToken:
    """Shared between a front end and a run: `cancel()` from any thread stops the run at the next step."""

    def __init__(self):
        import threading

        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise GenerationCancelled("stopped by the user")


@dataclass
class StepInfo:
    """Reported after each denoising step."""

    step: int  # steps done, from 1
    total: int
    elapsed: float  # seconds since denoising started

    @property
    def eta(self) -> float:
        return self.elapsed / self.step * (self.total - self.step) if self.step else 0.0
