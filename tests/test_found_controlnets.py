"""ControlNets in the user's A1111 or ComfyUI folders: listed under A1111's names, used for their family and type
before the library's hub entries, and what cannot be used is said."""

from __future__ import annotations

import shutil

import pytest
from safetensors.numpy import save_file

from pipelines.catalog import Library
from pipelines.errors import InvalidRequest, ModelLoadError
from pipelines.metadata import parse_parameters
from pipelines.request import ControlUnit, GenerationRequest


@pytest.fixture(scope="module")
def folder_library(tiny_dir, tmp_path_factory):
    """The tiny SD 1.x model alone (no library ControlNet), and an A1111 folder with the user's ControlNets."""
    import numpy as np

    root = tmp_path_factory.mktemp("found-controlnets")
    controlnets = root / "models" / "ControlNet"
    shutil.copytree(tiny_dir / "controlnet-sd15-canny-tiny", controlnets / "control_v11p_sd15_canny")
    weights = {"down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight": np.zeros((32, 768), np.float16)}
    save_file(weights, str(controlnets / "mystery.safetensors"))  # its name says no type
    save_file(weights, str(controlnets / "controlnet_union_sdxl.safetensors"))
    (controlnets / "control_v11f1p_sd15_depth.pth").write_bytes(b"a pickle")  # the extension's own format
    (root / "models.yaml").write_text(f"include_builtin: false\nmodels:\n  tiny-sd15: {tiny_dir / 'sd15-tiny'}\n")
    library = Library.from_file(root / "models.yaml")
    warnings = library.add_folders([root / "models"])
    return library, warnings


@pytest.fixture(scope="module")
def folder_manager(folder_library):
    import os

    from pipelines.engine_settings import EngineSettings
    from pipelines.manager import PipelineManager

    return PipelineManager(folder_library[0], EngineSettings(device=os.environ.get("EASEL_TEST_DEVICE", "cpu"),
                                                             watermark=False, content_credentials=False))


def test_the_folders_controlnets_are_listed_with_their_family_and_type(folder_library):
    library, warnings = folder_library
    canny = library.controlnets["control_v11p_sd15_canny"]
    assert (canny.family, canny.control_type) == ("sd1", "canny")
    depth = library.controlnets["control_v11f1p_sd15_depth"]  # a pickle: listed, loaded only if allowed
    assert (depth.family, depth.control_type) == ("sd1", "depth")
    assert library.control_types_by_family() == {"canny": ["sd1"], "depth": ["sd1"]}
    from api.control_names import control_type_and_entry, model_list

    # what A1111 clients see (/controlnet/model_list) and how they name it back
    assert sorted(model_list(library)) == ["control_v11f1p_sd15_depth.pth", "control_v11p_sd15_canny"]
    assert control_type_and_entry(library, "control_v11p_sd15_canny [d14c016b]", "canny") == (
        "canny", "control_v11p_sd15_canny")
    assert any("mystery.safetensors" in w and "does not say its control type" in w for w in warnings)
    assert any("controlnet_union_sdxl.safetensors" in w and "union" in w for w in warnings)


def test_a_canny_unit_uses_the_users_own_controlnet(folder_manager, photo):
    result = folder_manager.generate(GenerationRequest(task="controlnet", model="tiny-sd15", prompt="a lighthouse",
                                                       control_units=[ControlUnit("canny", image=photo)], steps=1,
                                                       width=64, height=64, seed=3))
    assert result.images[0].size == (64, 64)
    assert "Model: control_v11p_sd15_canny," in parse_parameters(result.infotexts[0])["settings"]["ControlNet 0"]


def test_a_pickled_controlnet_is_refused_unless_allowed_and_a_missing_type_is_named(folder_manager, photo):
    with pytest.raises(ModelLoadError, match="control_v11f1p_sd15_depth.pth is a pickle file.*--allow-pickle"):
        folder_manager.generate(GenerationRequest(task="controlnet", model="tiny-sd15", prompt="a",
                                                  control_units=[ControlUnit("depth", image=photo, preprocessor="none")],
                                                  steps=1, width=64, height=64))
    with pytest.raises(InvalidRequest, match="control_type: unknown type 'tile' for tiny-sd15 .*available: canny, depth"):
        folder_manager.generate(GenerationRequest(task="controlnet", model="tiny-sd15", prompt="a",
                                                  control_units=[ControlUnit("tile", image=photo)], steps=1,
                                                  width=64, height=64))


def test_the_users_controlnet_comes_before_the_librarys_own(tiny_dir, tmp_path):
    library = Library.from_file(tiny_dir / "models.yaml")  # has sd1/canny, the tiny one
    shutil.copytree(tiny_dir / "controlnet-sd15-canny-tiny", tmp_path / "ControlNet" / "my_canny_sd15")
    library.add_folders([tmp_path])
    assert library.controlnet_for("sd1", "canny").name == "my_canny_sd15"
    assert library.controlnet_for("sd1", "tile").name == "sd1/tile"
    shutil.rmtree(tmp_path / "ControlNet" / "my_canny_sd15")
    library.refresh()  # the file went: the library's own again
    assert library.controlnet_for("sd1", "canny").name == "sd1/canny"
