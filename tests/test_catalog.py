"""The model library: built-in defaults, a user's file, and clear errors for a bad file."""

from __future__ import annotations

import pytest

from pipelines.catalog import CONTROL_TYPES, PREPROCESSORS, Library, LibraryError


def test_the_builtin_catalog_has_the_usual_models_and_controlnets():
    library = Library.builtin()
    assert library.default == "sd15"
    assert library.model(None).source == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert {"sdxl", "sd-turbo", "sdxl-turbo"} <= set(library.models)
    assert library.model("sd-turbo").turbo
    sd1_types = {e.control_type for e in library.controlnets.values() if e.family == "sd1"}
    assert sd1_types == {"canny", "depth", "openpose", "lineart", "lineart_anime", "softedge", "scribble", "mlsd",
                         "normal", "segmentation", "shuffle", "tile", "inpaint"}
    sdxl = {e.control_type: e for e in library.controlnets.values() if e.family == "sdxl"}
    assert sdxl["canny"].source == "diffusers/controlnet-canny-sdxl-1.0" and sdxl["depth"].union_mode is None
    assert sdxl["openpose"].source == "xinsir/controlnet-union-sdxl-1.0" and sdxl["openpose"].union_mode == 0


def test_every_control_type_knows_a_preprocessor():
    assert all(t.preprocessor in PREPROCESSORS for t in CONTROL_TYPES.values())
    assert all(p in PREPROCESSORS for t in CONTROL_TYPES.values() for p in t.preprocessors)


def test_a_user_library_adds_models_with_paths_relative_to_the_file(tmp_path):
    (tmp_path / "models.yaml").write_text(
        "default: mine\nmodels:\n  mine:\n    source: checkpoints/dreamshaper.safetensors\n"
        "    config: stable-diffusion-v1-5/stable-diffusion-v1-5\ncontrolnets:\n  sd1:\n    canny: my-canny\n"
    )
    library = Library.from_file(tmp_path / "models.yaml")
    assert library.default == "mine" and library.model(None).base_dir == tmp_path
    assert "sdxl" in library.models  # built-ins stay unless the file says include_builtin: false
    assert library.controlnets["sd1/canny"].source == "my-canny"


@pytest.mark.parametrize("text, words", [
    ("models: [1, 2", "not valid YAML"),
    ("- a list", "must be a mapping"),
    ("models:\n  x:\n    label: no source\n", "needs a `source`"),
    ("models:\n  x:\n    source: a/b\n    colour: red\n", "unknown keys ['colour']"),
    ("controlnets:\n  sd4:\n    canny: a/b\n", "grouped by family"),
    ("controlnets:\n  sd1:\n    edges: a/b\n", "unknown ControlNet type 'edges'"),
    ("default: nothing\n", "default model 'nothing'"),
    ("models:\n  x:\n    source: a/b\n    inpaint: y\n", "inpaint model 'y'"),
])
def test_a_bad_library_file_says_where_and_why(tmp_path, text, words):
    path = tmp_path / "models.yaml"
    path.write_text(text)
    with pytest.raises(LibraryError) as error:
        Library.from_file(path)
    assert str(path) in str(error.value) and words in str(error.value)


def test_a_missing_library_file_is_a_clear_error(tmp_path):
    with pytest.raises(LibraryError, match="cannot read the model library"):
        Library.from_file(tmp_path / "nope.yaml")


def test_the_tiny_models_command_writes_a_library_that_loads(tiny_dir):
    library = Library.from_file(tiny_dir / "models.yaml")
    assert set(library.models) == {"tiny-sd15", "tiny-sd15-inpaint", "tiny-sd15-single-file", "tiny-sdxl",
                                   "tiny-sdxl-refiner", "tiny-sd3", "tiny-flux", "tiny-flux-fp8",
                                   "tiny-flux-transformer", "tiny-flux-gguf"}
    assert {"sd1/canny", "sd1/tile", "sdxl/canny", "sd3/canny", "flux/canny", "flux/depth"} == set(library.controlnets)
    for entry in library.models.values():
        assert (tiny_dir / entry.source).exists()


def test_the_model_list_labels_each_model_with_its_family_read_from_the_weights(tiny_dir, tmp_path):
    import shutil

    misleading = tmp_path / "sd15-style"  # an SDXL model whose name says otherwise
    shutil.copytree(tiny_dir / "sdxl-tiny", misleading)
    (tmp_path / "models.yaml").write_text(
        "include_builtin: false\nmodels:\n"
        f"  tiny-sd15: {tiny_dir / 'sd15-tiny'}\n"
        f"  inpainter: {tiny_dir / 'sd15-tiny-inpaint'}\n"
        f"  one-file: {{source: {tiny_dir / 'sd15-tiny.safetensors'}, label: My single file}}\n"
        f"  sd15-style: {misleading}\n"
        "  not-downloaded: {source: someone/not-in-the-cache, label: Some hub model}\n")
    choices = Library.from_file(tmp_path / "models.yaml").model_choices()
    assert choices == [("SD 1.x · tiny-sd15", "tiny-sd15"), ("SD 1.x inpainting · inpainter", "inpainter"),
                       ("SD 1.x · My single file", "one-file"), ("SDXL · sd15-style", "sd15-style"),
                       ("Some hub model", "not-downloaded")]  # its family is known once it is downloaded
