"""ControlNet preprocessors: from a user's picture to the map a ControlNet was trained on.

Detectors come from controlnet-aux (their weights from the `lllyasviel/Annotators` repo, through the
same download code and cache as every model); segmentation uses transformers' UperNet with the ADE20K
colours. A few need no weights at all: canny, shuffle, tile, inpaint, and "none" for a picture that
already is a map. Loaded detectors are models like any other: the manager caches them in RAM and
places their networks on the device under the same budget.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, ImageFilter

from .catalog import PASS_THROUGH
from .errors import ModelLoadError
from .loader import download
from .errors import InvalidRequest
from .validation import fit_picture

ANNOTATORS_REPO = "lllyasviel/Annotators"
SEGMENTATION_REPO = "openmmlab/upernet-convnext-small"

OWN = {"tile", "inpaint", PASS_THROUGH}  # made here, from the picture alone


@dataclass
class Preprocessor:
    id: str
    detector: object = None
    networks: dict[str, torch.nn.Module] = field(default_factory=dict)  # what the residency ledger manages


def load_preprocessor(preprocessor_id: str, progress=None) -> Preprocessor:
    """Instantiate a preprocessor, downloading its weights on first use."""
    from controlnet_aux.processor import MODELS

    if preprocessor_id in OWN:
        return Preprocessor(preprocessor_id)
    if preprocessor_id == "segmentation_upernet":
        from transformers import AutoImageProcessor, UperNetForSemanticSegmentation

        folder = download(preprocessor_id, SEGMENTATION_REPO, None, None, progress, controlnet=True)
        network = UperNetForSemanticSegmentation.from_pretrained(folder)
        detector = (AutoImageProcessor.from_pretrained(folder), network)
        return Preprocessor(preprocessor_id, detector, {"upernet": network})
    if preprocessor_id not in MODELS:
        raise InvalidRequest("preprocessor", f"unknown preprocessor {preprocessor_id!r}")
    spec = MODELS[preprocessor_id]
    if not spec["checkpoint"]:
        return Preprocessor(preprocessor_id, spec["class"]())
    try:
        detector = spec["class"].from_pretrained(ANNOTATORS_REPO)
    except Exception as error:  # noqa: BLE001 - controlnet-aux fetches its one file itself through the hub cache
        raise ModelLoadError(
            preprocessor_id,
            f"the preprocessor's weights ({ANNOTATORS_REPO}) could not be loaded ({error}). Connect to the internet once, "
            "or choose preprocessor 'none' and upload a ready-made control map",
        ) from None
    networks = {name: value for name, value in vars(detector).items() if isinstance(value, torch.nn.Module)}
    return Preprocessor(preprocessor_id, detector, networks)


def run_preprocessor(pre: Preprocessor, image: Image.Image, width: int, height: int, params: dict,
                     seed: int, resize_mode: str = "resize", mask: Image.Image | None = None) -> Image.Image:
    """The control map for `image`, at the output size."""
    from controlnet_aux.processor import MODEL_PARAMS

    params = dict(params)
    detect_resolution = int(params.pop("detect_resolution", 512))
    if pre.id == PASS_THROUGH:
        result = image
    elif pre.id == "tile":
        factor = float(params.get("downsample", 1.0))
        small = image.resize((max(8, int(image.width / factor)), max(8, int(image.height / factor))), Image.Resampling.LANCZOS)
        result = small
    elif pre.id == "inpaint":
        if mask is None:
            raise InvalidRequest("mask", "the inpaint ControlNet needs a mask: paint the area to repaint")
        result = Image.composite(Image.new("RGB", image.size, "black"), image, fit_picture(mask, *image.size, "resize"))
    elif pre.id == "segmentation_upernet":
        result = _segment(pre, image)
    else:
        # Some detectors (shuffle) draw random numbers from NumPy's global generator: seed it so the map,
        # and so the picture, is the same again for the same seed.
        np.random.seed(seed % 2**32)
        settings = {**MODEL_PARAMS.get(pre.id, {}), **params}  # a copy: controlnet-aux's dict is shared
        result = pre.detector(image, detect_resolution=min(detect_resolution, max(image.size)),
                              image_resolution=min(width, height), output_type="pil", **settings)
    return fit_picture(result.convert("RGB"), width, height, resize_mode)


@torch.inference_mode()
def _segment(pre: Preprocessor, image: Image.Image) -> Image.Image:
    from .ade20k_palette import ADE20K_PALETTE

    processor, network = pre.detector
    device = next(network.parameters()).device
    inputs = processor(images=image, return_tensors="pt").pixel_values.to(device, next(network.parameters()).dtype)
    classes = processor.post_process_semantic_segmentation(network(pixel_values=inputs), target_sizes=[image.size[::-1]])[0]
    palette = np.array(ADE20K_PALETTE, dtype=np.uint8)
    return Image.fromarray(palette[classes.cpu().numpy() % len(palette)])


def inpaint_condition(image: Image.Image, mask: Image.Image) -> torch.Tensor:
    """The inpaint ControlNet's input: the picture in [0, 1], with the area to repaint set to -1."""
    pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)
    masked = torch.from_numpy(np.asarray(mask.convert("L"), dtype=np.float32) / 255.0) > 0.5
    pixels[masked] = -1.0
    return pixels.permute(2, 0, 1).unsqueeze(0)


def blur_mask(mask: Image.Image, radius: int) -> Image.Image:
    """Soften the mask's edge so the repainted area blends in (AUTOMATIC1111's "mask blur")."""
    return mask.filter(ImageFilter.GaussianBlur(radius)) if radius > 0 else mask


class MapCache:
    """The last few control maps, so that previewing a map and then generating computes it once."""

    def __init__(self, size: int = 16):
        self.size = size
        self._maps: OrderedDict[str, Image.Image] = OrderedDict()

    @staticmethod
    def key(preprocessor_id: str, image: Image.Image, width: int, height: int, params: dict, seed: int,
            resize_mode: str, mask: Image.Image | None) -> str:
        digest = hashlib.sha256(image.tobytes())
        if mask is not None:
            digest.update(mask.tobytes())
        seeded = preprocessor_id == "shuffle"  # only random preprocessors depend on the seed
        return f"{preprocessor_id}|{digest.hexdigest()}|{image.size}|{width}x{height}|{sorted(params.items())}|" \
               f"{seed if seeded else ''}|{resize_mode}"

    def get(self, key: str) -> Image.Image | None:
        if key in self._maps:
            self._maps.move_to_end(key)
            return self._maps[key]
        return None

    def put(self, key: str, value: Image.Image) -> None:
        self._maps[key] = value
        self._maps.move_to_end(key)
        while len(self._maps) > self.size:
            self._maps.popitem(last=False)
