"""Faces found in a picture with dlib's HOG detector (dlib-bin: a wheel, nothing to compile, no model file to
download), for face restoration and the detailer."""

from __future__ import annotations

import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]  # left, top, right, bottom


def find_faces(picture: Image.Image, threshold: float = 0.0) -> list[Box]:
    """The faces' boxes, largest first, inside the picture. `threshold` is dlib's: 0 its own default, higher
    finds fewer (surer) faces, lower more."""
    import dlib

    pixels = np.asarray(picture.convert("RGB"))
    # faces smaller than about 80 pixels are found only in the picture doubled: worth it up to a megapixel
    upsample = 1 if picture.width * picture.height <= 1024 * 1024 else 0
    found, _scores, _kinds = dlib.get_frontal_face_detector().run(pixels, upsample, threshold)
    boxes = [(max(0, r.left()), max(0, r.top()), min(picture.width, r.right()), min(picture.height, r.bottom()))
             for r in found]
    boxes = [box for box in boxes if box[2] > box[0] and box[3] > box[1]]
    return sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
