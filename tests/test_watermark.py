"""The invisible "made by Easel" mark: found on Easel's pictures, also after sharing, never on others.

Also: the mark is invisible-watermark's dwtDctSvd, implemented in pipelines/watermark.py without that
library; pictures the library marked (tests/fixtures/, written by make_watermark_fixtures.py there) are
still recognised, and marking gives the very pixels the library gave.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.watermark import METHODS, detect, mark

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Crops of scikit-image photos, each unmarked and as invisible-watermark 0.2.0 marked it with Easel's payload
LIBRARY_MARKED = ["astronaut_256x256", "coffee_262x258"]


def _photo() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())  # 512x512


def _generated() -> Image.Image:
    """A 768x512 picture like a diffusion model's: a smooth sky gradient, a soft sun, fine grain."""
    y, x = np.mgrid[0:512, 0:768] / 512.0
    sky = np.stack([0.9 - 0.5 * y, 0.5 + 0.2 * x / 1.5, 0.8 + 0.1 * y], axis=-1)
    sun = np.exp(-((x - 1.0) ** 2 + (y - 0.35) ** 2) / 0.02)[..., None] * np.array([0.3, 0.25, -0.2])
    grain = np.random.default_rng(0).normal(0, 0.02, sky.shape)
    return Image.fromarray((np.clip(sky + sun + grain, 0, 1) * 255).astype(np.uint8))


def _psnr(original: Image.Image, marked: Image.Image) -> float:
    error = np.mean((np.asarray(original, dtype=np.float64) - np.asarray(marked, dtype=np.float64)) ** 2)
    return 10 * np.log10(255**2 / error)


def _as_jpeg(picture: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return Image.open(buffer)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return _photo()


@pytest.fixture(scope="module")
def marked_photo(photo) -> Image.Image:
    return mark(photo)


@pytest.mark.parametrize("make_picture", [_photo, _generated], ids=["photo", "generated 768x512"])
def test_a_marked_picture_is_recognised_and_the_original_is_not(make_picture):
    original = make_picture()

    reading = detect(mark(original))

    assert reading.found
    assert reading.bit_agreement == 1.0
    assert not detect(original).found


def test_marking_keeps_size_and_mode_and_is_invisible(photo, marked_photo):
    assert marked_photo.size == photo.size
    assert marked_photo.mode == "RGB"
    assert _psnr(photo, marked_photo) > 35  # 37.7 dB measured on this photo; docs/WATERMARK.md has more


@pytest.mark.parametrize("quality", [90, 75])
def test_the_mark_survives_jpeg(marked_photo, quality):
    assert detect(_as_jpeg(marked_photo, quality)).found


def test_the_mark_survives_halving_the_picture(marked_photo):
    halved = marked_photo.resize((256, 256), Image.Resampling.LANCZOS)

    assert detect(halved).found


def test_rgba_and_grey_pictures_are_marked_as_rgb():
    for picture in (_photo().convert("RGBA"), _photo().convert("L")):
        marked = mark(picture)

        assert (marked.mode, marked.size) == ("RGB", picture.size)
        assert detect(marked).found


@pytest.mark.parametrize("size", [(64, 64), (255, 255), (2048, 16)])
def test_pictures_too_small_for_the_mark_pass_through_unchanged(size):
    picture = _generated().resize(size)

    assert mark(picture) is picture
    assert not detect(picture).found


@pytest.mark.parametrize("picture", [
    Image.new("RGB", (1, 1)),
    Image.new("RGBA", (300, 300), (10, 200, 30, 0)),
    Image.new("L", (300, 300), 128),
    Image.fromarray(np.random.default_rng(0).integers(0, 65535, (300, 400), dtype=np.uint16)),  # 16-bit grey
    Image.new("P", (300, 300)),
    Image.new("RGB", (3, 30000)),
], ids=["1x1", "transparent RGBA", "flat grey", "16-bit grey", "palette", "3 pixels wide"])
def test_detect_answers_not_found_on_odd_pictures(picture):
    reading = detect(picture)

    assert not reading.found
    assert 0.0 <= reading.bit_agreement <= 1.0


def _fixture(name: str) -> Image.Image:
    with Image.open(FIXTURES / f"{name}.png") as picture:
        return picture.convert("RGB")


@pytest.mark.parametrize("name", LIBRARY_MARKED)
def test_pictures_marked_by_invisible_watermark_are_recognised_and_their_originals_are_not(name):
    reading = detect(_fixture(f"{name}_library_marked"))

    assert reading.found
    assert reading.bit_agreement == 1.0
    assert not detect(_fixture(f"{name}_unmarked")).found


@pytest.mark.parametrize("name", LIBRARY_MARKED)
def test_marking_gives_the_pixels_invisible_watermark_gave(name):
    ours = np.asarray(mark(_fixture(f"{name}_unmarked")))
    library = np.asarray(_fixture(f"{name}_library_marked"))

    # Bit for bit: measured on these and on 112 other pictures (photos, gradients, flat colours) while
    # the library was at hand, no channel value differed.
    np.testing.assert_array_equal(ours, library)


def test_the_mark_needs_no_invisible_watermark():
    # A fresh interpreter in which importing the library fails, as where it is not installed.
    script = ("import sys; sys.modules['imwatermark'] = None\n"
              "from PIL import Image\n"
              "from pipelines.watermark import detect\n"
              f"assert detect(Image.open({str(FIXTURES / (LIBRARY_MARKED[0] + '_library_marked.png'))!r})).found\n")
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", script], cwd=root, check=True, timeout=120)


def test_only_the_implemented_method_is_offered(photo):
    assert METHODS == ("dwtDctSvd",)
    with pytest.raises(ValueError, match="unknown watermark method"):
        mark(photo, "rivaGan")
