"""An invisible mark that says "made by Easel", hidden in every picture Easel makes, and its detector.

    marked = mark(picture)      # looks the same (PSNR 38 dB on average), carries the mark
    detect(marked).found        # True, also after JPEG 75 or a 0.5x resize

The mark is the ``dwtDctSvd`` method of invisible-watermark (import name ``imwatermark``, the library
SDXL uses), implemented here on numpy, PyWavelets and OpenCV so that Easel does not depend on that
library (it requires the GUI build of OpenCV, which clashes with the headless build the rest of Easel
uses). It is bit-compatible with the library: ``mark`` writes the same pixels as the library's encoder
with Easel's payload, and ``detect`` reads the bits the library's decoder reads, so pictures marked by
earlier Easel versions (which used the library) are still recognised. tests/test_watermark.py checks
both against pictures the library marked (tests/fixtures/). Of the library's three methods this is the
only one that survives JPEG 75 and a 0.5x resize (read as ``detect`` does) and is fast enough on a CPU
for every picture. A crop defeats it: its bits sit on a block grid that a crop shifts. docs/WATERMARK.md
has the measurements (``python -m benchmarks.watermark_robustness``).

Size limits: as with the library, only pictures of at least 65,536 pixels (256x256) are marked; ``mark``
returns a smaller picture unchanged. ``detect`` also reads a copy at twice the size, so it can find the
mark in pictures down to 16,384 pixels (128x128: a halved 256x256); below that it reports not found.

How the mark is made, in short (``_embed`` and ``_read_bits`` say why each step is there): the picture
goes to YUV; the U channel goes through one level of the Haar wavelet transform; the approximation band
is cut into 4x4 blocks, block n carrying payload bit n mod 32; in each block the largest singular value
is moved to a quarter (bit 0) or three quarters (bit 1) of the way through its step of 36. Reading
takes the remainder of that singular value by 36 in every block and a majority vote per bit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import pywt
from PIL import Image

# The payload: the first 16 bits of sha256(b"Easel") followed by their complement, i.e. 0x7e5f81a0.
# The complement makes exactly half the bits ones, so a picture whose flat or dark areas decode to
# all zeros or all ones agrees with the payload on exactly half its bits, as chance would. 32 bits
# (the length earlier Easel versions chose so as to compare the library's methods on one payload).
_HALF = hashlib.sha256(b"Easel").digest()[:2]
PAYLOAD = _HALF + bytes(0xFF - byte for byte in _HALF)
PAYLOAD_BITS = np.unpackbits(np.frombuffer(PAYLOAD, dtype=np.uint8))

# On an unmarked picture each decoded bit matches with probability 1/2, so the agreement is
# Binomial(32, 1/2): P(>= 26 of 32) = 2.7e-4. detect reads up to two copies, so the false-positive
# rate is at most 5.4e-4, well under the 1 % target; the benchmark checks it on real photos. A marked
# picture reads 30-32 of 32 even after JPEG 75, so the threshold costs no detections.
AGREEMENT_THRESHOLD = 26 / len(PAYLOAD_BITS)

METHODS = ("dwtDctSvd",)  # what this module implements (the benchmark can compare the library's others)
DEFAULT_METHOD = "dwtDctSvd"
MIN_PIXELS = 256 * 256  # the library refuses anything smaller; kept, so Easel marks the same pictures as before
MIN_SIDE = 8  # the mark works on 4x4 blocks of a half-size wavelet band: one block needs 8 pixels
MAX_READ_PIXELS = 2048 * 2048  # Easel makes nothing larger, so a larger copy cannot be at Easel's scale

# The method's constants, as the library's dwtDctSvd defaults have them (changing any breaks compatibility).
# The quantisation step of each block's largest singular value, on the U channel only (the library's
# scales=[0, 36, 0]). It sets the mark's strength: marking moves the value by 11 on average (27 at
# most), which costs about 38 dB PSNR, and a reader's answer flips only after a change of STEP / 4 = 9
# (JPEG 75 stays under it).
STEP = 36.0
BLOCK = 4  # the side of the blocks of the wavelet band that each carry one bit
_CHANNEL = 1  # U in OpenCV's YUV order (Y, U, V)


@dataclass(frozen=True)
class WatermarkReading:
    found: bool
    bit_agreement: float  # fraction of the 32 payload bits read back; 0.0 when too small to read
    method: str


def mark(image: Image.Image, method: str = DEFAULT_METHOD) -> Image.Image:
    """A new RGB picture of the same size carrying Easel's mark (transparency is dropped).

    A picture too small to carry the mark (see the module's docstring) is returned as is.
    """
    _check_method(method)
    if not _can_carry_mark(image.width, image.height):
        return image
    return Image.fromarray(_embed(np.asarray(_as_rgb(image)), PAYLOAD_BITS))


def detect(image: Image.Image, method: str = DEFAULT_METHOD) -> WatermarkReading:
    """Whether the picture carries Easel's mark. Reads the picture, then if needed a copy at twice its size."""
    _check_method(method)
    best = best_agreement(image, lambda rgb: _read_bits(rgb, len(PAYLOAD_BITS)))
    return WatermarkReading(found=best >= AGREEMENT_THRESHOLD, bit_agreement=best, method=method)


def best_agreement(image: Image.Image, read_bits: Callable[[np.ndarray], np.ndarray]) -> float:
    """The best fraction of payload bits that `read_bits` (an RGB uint8 array -> 32 bits) reads from the
    picture or, failing that, from a copy at twice its size. detect's reading, for any block-grid method."""
    best = 0.0
    # The mark lives on a fixed pixel grid, so a picture shrunk to half is read at its original scale.
    for scale in (1, 2):
        size = (image.width * scale, image.height * scale)
        if not _can_carry_mark(*size) or (scale > 1 and size[0] * size[1] > MAX_READ_PIXELS):
            continue
        copy = _as_rgb(image) if scale == 1 else _as_rgb(image).resize(size, Image.Resampling.BICUBIC)
        bits = np.asarray(read_bits(np.asarray(copy)), dtype=np.uint8)
        best = max(best, float(np.mean(bits == PAYLOAD_BITS)))
        if best >= AGREEMENT_THRESHOLD:
            break
    return best


def _embed(rgb: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """The picture (H x W x 3 RGB uint8) with `bits` hidden in it, as the library's dwtDctSvd encoder hides them."""
    # YUV in 8 bits, as the library converts (OpenCV's integer YUV, so that the pixels come out the same).
    # The mark goes into U, a colour channel: the eye sees changes of colour far less than changes of
    # brightness, and Y and V are left as they are (they only take the 8-bit YUV round trip).
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV)
    height, width = _wavelet_extent(rgb)
    # One level of the Haar wavelet transform: the approximation band is the channel at half size
    # (each value the sum of a 2x2 square, divided by 2). It holds the coarse structure, which JPEG keeps
    # and which a 0.5x resize keeps (detect reads such a picture back at twice its size), so the mark
    # survives both; the fine detail, which both throw away, is in the detail bands and carries nothing.
    approximation, (horizontal, vertical, diagonal) = pywt.dwt2(yuv[:height, :width, _CHANNEL], "haar")
    blocks = _to_blocks(approximation)
    u, singular, vt = _block_svd(blocks)
    # Each 4x4 block of the band (8x8 pixels) carries one bit, block n payload bit n mod 32: the payload
    # repeats over the picture, and the reader's majority vote over the repeats is what survives JPEG.
    # The bit is in the block's largest singular value: the block's overall strength, which a small
    # change of the block moves by no more than the change's own size (so JPEG and resampling move it
    # little), and changing it adds a smooth rank-one pattern to the block rather than a visible dot.
    # It is moved to 1/4 (bit 0) or 3/4 (bit 1) of the way through its step of STEP, as far as can be
    # from the remainders 0 and STEP/2 where the reader's answer flips. `//` as the library computes it
    # (numpy's floor division), so that a value on a step boundary lands on the same side.
    block_bits = bits[np.arange(len(blocks)) % len(bits)]
    singular[:, 0] = (singular[:, 0] // STEP + 0.25 + 0.5 * block_bits) * STEP
    rebuilt = _block_idct(u @ (singular[:, :, None] * vt))
    _from_blocks(approximation, rebuilt)
    # The library hands the detail bands back to the inverse transform with horizontal and vertical
    # swapped, which transposes every 2x2 square of the U channel; done here too, for the same pixels
    # (the reader only looks at the approximation band, which the swap leaves alone).
    channel = pywt.idwt2((approximation, (vertical, horizontal, diagonal)), "haar")
    # Back to 8 bits by truncation, as the library's assignment into its uint8 array does (so 99.9
    # becomes 99). The library would let a value outside 0..255 wrap around (256 becoming 0); here it is
    # clipped. Neither happens in practice: U of an RGB picture lies within 17..239 and the mark moves it
    # by a few levels (on saturated blue and yellow noise it stayed within 11..246).
    yuv[:height, :width, _CHANNEL] = np.clip(channel, 0, 255).astype(np.uint8)
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB)


def _read_bits(rgb: np.ndarray, count: int) -> np.ndarray:
    """The `count` bits the library's dwtDctSvd decoder reads from the picture (H x W x 3 RGB uint8)."""
    # The same YUV, U channel and wavelet band as _embed, so that the blocks line up with the marked ones.
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV)
    height, width = _wavelet_extent(rgb)
    approximation, _ = pywt.dwt2(yuv[:height, :width, _CHANNEL], "haar")
    blocks = _to_blocks(approximation)
    if len(blocks) == 0:
        return np.zeros(count, dtype=np.uint8)
    _, singular, _ = _block_svd(blocks)
    # A block votes 1 when its largest singular value sits in the upper half of its step: marking put
    # it at 1/4 or 3/4, so JPEG or resampling can move it by up to STEP/4 before the vote flips.
    votes = (singular[:, 0] % STEP > STEP * 0.5).astype(np.float64)
    # Each payload bit is the majority of its blocks' votes; a tie reads as 1, as in the library (which
    # compares the mean times 255 with 127). A bit without a block reads as 0.
    which = np.arange(len(blocks)) % count
    totals, counts = np.bincount(which, votes, count), np.bincount(which, minlength=count)
    means = np.divide(totals, counts, out=np.zeros(count), where=counts > 0)
    return (means * 255 > 127).astype(np.uint8)


def _wavelet_extent(rgb: np.ndarray) -> tuple[int, int]:
    # The library transforms only the largest top-left part whose sides are multiples of 4 (so the
    # half-size band has even sides); the rest of the picture is left unmarked.
    return rgb.shape[0] // 4 * 4, rgb.shape[1] // 4 * 4


def _to_blocks(band: np.ndarray) -> np.ndarray:
    """The BLOCK x BLOCK blocks of the band, numbered row by row from the top-left corner (the library's
    order), as an (n, BLOCK, BLOCK) array. A partial block at the right or bottom edge is left out."""
    rows, columns = band.shape[0] // BLOCK, band.shape[1] // BLOCK
    grid = band[:rows * BLOCK, :columns * BLOCK].reshape(rows, BLOCK, columns, BLOCK)
    return grid.transpose(0, 2, 1, 3).reshape(-1, BLOCK, BLOCK)


def _from_blocks(band: np.ndarray, blocks: np.ndarray) -> None:
    """Writes the blocks back into the band, in place (the inverse of _to_blocks)."""
    rows, columns = band.shape[0] // BLOCK, band.shape[1] // BLOCK
    grid = blocks.reshape(rows, columns, BLOCK, BLOCK).transpose(0, 2, 1, 3)
    band[:rows * BLOCK, :columns * BLOCK] = grid.reshape(rows * BLOCK, columns * BLOCK)


def _block_svd(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The singular value decomposition of each block's 2-D DCT, as the library takes it.

    The DCT is orthonormal, so it changes no singular value: the method would work as well without it.
    It is kept because the library computes the singular values on the DCT of the block, and the float
    rounding of that path decides the step a value exactly on a step boundary falls into (a flat area of
    U = 126, say, has its largest singular value exactly 28 x 36): with it, those blocks match the library too.
    """
    return np.linalg.svd(_block_dct(blocks))


def _block_dct(blocks: np.ndarray, inverse: bool = False) -> np.ndarray:
    """cv2.dct (or cv2.idct) of each block, all blocks at once: OpenCV's 2-D DCT is a 1-D DCT of the
    rows then of the columns, so one call with DCT_ROWS over all the blocks' rows, then one over all
    their columns, gives the same numbers, bit for bit, as one cv2.dct call per block."""
    flags = cv2.DCT_ROWS | (cv2.DCT_INVERSE if inverse else 0)
    count = len(blocks)
    rows = cv2.dct(np.ascontiguousarray(blocks.reshape(-1, BLOCK)), flags=flags).reshape(count, BLOCK, BLOCK)
    columns = np.ascontiguousarray(rows.transpose(0, 2, 1).reshape(-1, BLOCK))
    return cv2.dct(columns, flags=flags).reshape(count, BLOCK, BLOCK).transpose(0, 2, 1)


def _block_idct(blocks: np.ndarray) -> np.ndarray:
    return _block_dct(blocks, inverse=True)


def _can_carry_mark(width: int, height: int) -> bool:
    return width * height >= MIN_PIXELS and min(width, height) >= MIN_SIDE


def _as_rgb(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I;16"):
        # Pillow's convert clips 16-bit values at 255, which turns most of the picture white.
        image = Image.fromarray((np.asarray(image, dtype=np.uint16) >> 8).astype(np.uint8))
    return image if image.mode == "RGB" else image.convert("RGB")


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown watermark method {method!r}; choose one of {', '.join(METHODS)}")
