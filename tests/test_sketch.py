"""Sketch and inpaint sketch as in A1111: what is painted in colour becomes part of the starting picture, through
the tabs' own handlers (as the page and gradio_client call them)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipelines.provenance import pixel_sha256, record_of
from ui.masks import editor_sketch, sketched_or
from pipelines.request import Limits


@pytest.fixture(scope="module")
def handlers(tiny_dir):
    import app
    from pipelines.engine_settings import EngineSettings
    from server.app_settings import AppSettings

    settings = AppSettings(models=str(tiny_dir / "models.yaml"), outputs=None, engine=EngineSettings(device="cpu"))
    demo, _manager = app.build_app(settings)
    return {fn.api_name: fn.fn for fn in demo.fns.values() if fn.api_name in ("img2img", "inpaint")}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from skimage import data

    folder = tmp_path_factory.mktemp("sketch")
    Image.fromarray(data.astronaut()).resize((64, 64)).save(folder / "photo.png")
    stroke = np.zeros((64, 64, 4), np.uint8)
    stroke[20:40, 10:50] = (224, 49, 49, 255)  # a red bar, as the browser's colour brush sends it
    Image.fromarray(stroke, "RGBA").save(folder / "red.png")
    Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(folder / "nothing.png")
    expected = np.asarray(Image.open(folder / "photo.png").convert("RGB")).copy()
    expected[20:40, 10:50] = (224, 49, 49)
    Image.fromarray(expected).save(folder / "sketched.png")
    return folder


def file(path) -> dict:
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


def editor(files, *layers) -> dict:
    return {"background": file(files / "photo.png"), "layers": [file(files / name) for name in layers],
            "composite": None}


def run(handler, **inputs):
    last = None
    for last in handler(**inputs, prompt="a red scarf", steps=2, seed=1, history=[], progress=lambda *a, **k: None):
        pass
    gallery = last[0]
    return Image.open(gallery[0][0] if isinstance(gallery[0], (list, tuple)) else gallery[0])


def test_the_sketch_is_the_picture_with_the_colours_over_it(files):
    made = editor_sketch(editor(files, "red.png"), Limits())
    assert np.array_equal(np.asarray(made), np.asarray(Image.open(files / "sketched.png")))
    # nothing painted: the picture as uploaded; no picture: the sketch's own
    assert sketched_or(file(files / "photo.png"), editor(files, "nothing.png"), Limits()) == str(files / "photo.png")
    assert np.array_equal(np.asarray(sketched_or(None, editor(files, "nothing.png"), Limits())),
                          np.asarray(Image.open(files / "photo.png").convert("RGB")))


def test_image_to_image_starts_from_the_sketch(handlers, files):
    made = run(handlers["img2img"], image=file(files / "photo.png"), strength=0.5,
               sketch=editor(files, "red.png"))
    assert record_of(made)["inputs"]["image_sha256"] == pixel_sha256(Image.open(files / "sketched.png"))
    plain = run(handlers["img2img"], image=file(files / "photo.png"), strength=0.5,
                sketch=editor(files, "nothing.png"))
    assert record_of(plain)["inputs"]["image_sha256"] == pixel_sha256(Image.open(files / "photo.png"))


def test_inpaint_sketch_repaints_the_stroke_from_its_colours_and_keeps_the_rest(handlers, files):
    made = run(handlers["inpaint"], image=editor(files, "red.png"), sketch=True, mask_blur=0, strength=0.5)
    inputs = record_of(made)["inputs"]
    assert inputs["image_sha256"] == pixel_sha256(Image.open(files / "sketched.png"))
    photo = np.asarray(Image.open(files / "photo.png").convert("RGB"))
    assert np.array_equal(np.asarray(made.convert("RGB"))[45:], photo[45:])  # outside the stroke, as it was
    plain = run(handlers["inpaint"], image=editor(files, "red.png"), sketch=False, mask_blur=0, strength=0.5)
    assert record_of(plain)["inputs"]["image_sha256"] == pixel_sha256(Image.open(files / "photo.png"))
