"""Scripts call the studio through gradio_client: four named endpoints, PNGs with parameters, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from pipelines.metadata import parse_parameters, read_parameters

pytestmark = pytest.mark.slow  # every test calls the app_server's studio


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from skimage import data

    folder = tmp_path_factory.mktemp("inputs")
    Image.fromarray(data.astronaut()).resize((64, 64)).save(folder / "photo.png")
    layer = np.zeros((64, 64, 4), np.uint8)
    layer[16:48, 16:48] = (255, 255, 255, 200)  # a painted square, as the browser's editor sends it
    Image.fromarray(layer, "RGBA").save(folder / "paint.png")
    return folder


def parameters_of(gallery):
    """The picture the client downloaded, and the parameters inside its PNG."""
    path = gallery[0]["image"]
    assert path.endswith(".png")
    return Image.open(path), parse_parameters(read_parameters(path))


def test_only_the_generation_and_reading_endpoints_are_public(client):
    assert sorted(client.view_api(return_format="dict", print_info=False)["named_endpoints"]) == [
        "/controlnet", "/extras", "/img2img", "/inpaint", "/outpaint", "/png_info", "/txt2img", "/verify"]


def test_txt2img_with_only_a_prompt(client):
    gallery, info, status = client.predict(prompt="a lighthouse", api_name="/txt2img")
    image, parameters = parameters_of(gallery)
    assert image.size == (64, 64)
    assert parameters["prompt"] == "a lighthouse" and info.startswith("a lighthouse")
    assert "denoise" in status


def test_txt2img_with_named_settings(client):
    gallery, _, _ = client.predict(prompt="a fox", negative_prompt="blur", seed=42, steps=3, guidance_scale=5,
                                   sampler="Euler a", width=80, height=64, batch_size=2, api_name="/txt2img")
    assert len(gallery) == 2
    image, parameters = parameters_of(gallery)
    assert image.size == (80, 64)
    assert (parameters["seed"], parameters["steps"], parameters["sampler"], parameters["cfg_scale"]) == (42, 3, "Euler a", 5.0)


def test_txt2img_with_the_hires_fix_by_a1111_s_field_names(client):
    gallery, info, _ = client.predict(prompt="a fox", seed=3, steps=2, width=64, height=64, enable_hr=True,
                                      hr_upscaler="tiny-realesr-compact", hr_scale=2, denoising_strength=0.5,
                                      api_name="/txt2img")
    image, parameters = parameters_of(gallery)
    assert image.size == (128, 128) and parameters["width"] == 64  # Size: the first pass, as A1111 writes it
    assert "Hires upscale: 2, Hires upscaler: tiny-realesr-compact" in info and "Denoising strength: 0.5" in info
    with pytest.raises(AppError, match="hr_scale: must be from 1 to 8, got 0"):
        client.predict(prompt="a fox", steps=2, enable_hr=True, hr_scale=0, api_name="/txt2img")


def test_the_advanced_settings_through_gradio_client(client):
    gallery, _, _ = client.predict(prompt="a brick wall", steps=2, tiling=True, freeu=True, pag_scale=2,
                                   api_name="/txt2img")
    settings = parameters_of(gallery)[1]["settings"]
    assert (settings["Tiling"], settings["PAG scale"]) == ("True", "2") and settings["FreeU"].startswith("b1 1.5")


def test_the_speed_choices_through_gradio_client(client):
    gallery, _, _ = client.predict(prompt="a brick wall", steps=3, decode="fast", feature_cache=2, api_name="/txt2img")
    settings = parameters_of(gallery)[1]["settings"]
    assert (settings["VAE Decoder"], settings["Feature cache"]) == ("TAESD", "2")
    assert settings["Precision"] in ("bf16", "fp32")


def test_a_variation_seed_through_gradio_client(client):
    gallery, _, _ = client.predict(prompt="a meadow", steps=2, seed=3, subseed=9, subseed_strength=0.4,
                                   api_name="/txt2img")
    settings = parameters_of(gallery)[1]["settings"]
    assert (settings["Variation seed"], settings["Variation seed strength"]) == ("9", "0.4")


def test_an_xyz_plot_and_wildcards_through_gradio_client(client):
    gallery, info, _ = client.predict(prompt="a {red|blue} fox", steps=2, seed=4, x_type="Steps", x_values="2, 3",
                                      y_type="CFG Scale", y_values="4, 8", api_name="/txt2img")
    assert len(gallery) == 5  # the grid, then the four cells
    grid, parameters = parameters_of(gallery)
    assert grid.width > 2 * 64 and parameters["settings"]["Script"] == "X/Y/Z plot"
    cells = [parse_parameters(read_parameters(picture["image"])) for picture in gallery[1:]]
    assert [(c["steps"], c["cfg_scale"]) for c in cells] == [(2, 4.0), (3, 4.0), (2, 8.0), (3, 8.0)]
    assert all(c["template"] == "a {red|blue} fox" and c["prompt"] in ("a red fox", "a blue fox") for c in cells)
    with pytest.raises(AppError, match="x_values: Steps 900: must be from 1 to"):
        client.predict(prompt="a fox", steps=2, x_type="Steps", x_values="2, 900", api_name="/txt2img")


def test_the_sdxl_refiner_through_gradio_client(client):
    gallery, info, _ = client.predict(prompt="a fox", model="tiny-sdxl", steps=4, seed=2,
                                      refiner_checkpoint="tiny-sdxl-refiner", refiner_switch_at=0.5, api_name="/txt2img")
    settings = parameters_of(gallery)[1]["settings"]
    assert settings["Refiner"].startswith("tiny-sdxl-refiner") and settings["Refiner switch at"] == "0.5"
    with pytest.raises(AppError, match="refiner: a refiner finishes SDXL pictures"):
        client.predict(prompt="a fox", steps=2, refiner_checkpoint="tiny-sdxl-refiner", api_name="/txt2img")


def test_an_image_prompt_through_gradio_client(client, files):
    gallery, info, _ = client.predict(prompt="a portrait", steps=2, seed=5, ip_image=handle_file(files / "photo.png"),
                                      ip_weight=0.6, ip_mode="style", api_name="/txt2img")
    assert 'IP-Adapter 0: "Model: ip-adapter_tiny-sd15, Weight: 0.6, Mode: style' in info
    with pytest.raises(AppError, match="image_prompts\\[0\\].model: the IP-Adapter ip-adapter_tiny-sdxl is for"):
        client.predict(prompt="a fox", steps=2, ip_adapter="ip-adapter_tiny-sdxl",
                       ip_image=handle_file(files / "photo.png"), api_name="/txt2img")


def test_flux_and_sd3_through_gradio_client(client, files):
    # the page's SD defaults as a client sends them (sampler, guidance 7): FLUX's Euler is used, and said so
    gallery, info, status = client.predict(prompt="a fox", model="tiny-flux", steps=3, seed=2, api_name="/txt2img")
    settings = parameters_of(gallery)[1]["settings"]
    assert settings["Sampler"] == "Euler" and settings["Distilled CFG Scale"] == "7" and settings["CFG scale"] == "1"
    assert "a flow-matching model" in status
    gallery, _, _ = client.predict(image=handle_file(files / "photo.png"), prompt="a painting", model="tiny-sd3",
                                   sampler="Euler", strength=0.5, steps=4, seed=1, api_name="/img2img")
    image, parameters = parameters_of(gallery)
    assert image.size == (64, 64) and parameters["settings"]["Model"] == "tiny-sd3"
    editor = {"background": handle_file(files / "photo.png"), "layers": [handle_file(files / "paint.png")],
              "composite": None}
    gallery, _, _ = client.predict(image=editor, prompt="a hat", model="tiny-flux", sampler="Euler", steps=3, seed=1,
                                   api_name="/inpaint")
    assert parameters_of(gallery)[1]["settings"]["Model"] == "tiny-flux"
    gallery, _, _ = client.predict(control_type="canny", control_image=handle_file(files / "photo.png"),
                                   prompt="a robot", model="tiny-sd3", sampler="Euler", steps=3, seed=1,
                                   api_name="/controlnet")
    assert "Model: controlnet-sd3-canny-tiny" in parameters_of(gallery)[1]["settings"]["ControlNet 0"]
    with pytest.raises(AppError, match="tiling: seamless tiling pads a UNet's convolutions"):
        client.predict(prompt="a fox", model="tiny-flux", tiling=True, api_name="/txt2img")


def test_img2img(client, files):
    gallery, _, _ = client.predict(image=handle_file(files / "photo.png"), prompt="a painting", strength=0.5, steps=4,
                                   seed=1, api_name="/img2img")
    image, parameters = parameters_of(gallery)
    assert image.size == (64, 64) and parameters["denoising_strength"] == 0.5


def test_img2img_starts_from_a_sketch_sent_as_the_editor_sends_it(client, files):
    from pipelines.provenance import pixel_sha256, record_of

    sketch = {"background": handle_file(files / "photo.png"), "layers": [handle_file(files / "paint.png")],
              "composite": None}
    gallery, _, _ = client.predict(image=handle_file(files / "photo.png"), sketch=sketch, prompt="a painting",
                                   strength=0.5, steps=2, seed=1, api_name="/img2img")
    photo = Image.open(files / "photo.png").convert("RGBA")
    sketched = Image.alpha_composite(photo, Image.open(files / "paint.png").convert("RGBA")).convert("RGB")
    assert record_of(Image.open(gallery[0]["image"]))["inputs"]["image_sha256"] == pixel_sha256(sketched)


def test_the_detailer_redraws_the_face_through_gradio_client(client, tmp_path):
    from skimage import data

    face = tmp_path / "face.png"
    Image.fromarray(data.astronaut()).resize((256, 256)).save(face)
    gallery, info, _ = client.predict(image=handle_file(face), adetailer=True, ad_denoising_strength=0.5,
                                      ad_skip_img2img=True, prompt="a portrait", steps=4, seed=2, width=256,
                                      height=256, api_name="/img2img")
    image, parameters = parameters_of(gallery)
    assert parameters["settings"]["ADetailer model"] == "face_dlib"
    difference = np.abs(np.asarray(image.convert("RGB"), float) - np.asarray(Image.open(face), float)).mean(axis=2)
    assert difference[41:84, 88:132].mean() > 10 > 3 > difference[:20].mean()
    with pytest.raises(AppError, match="ad_confidence: must be from 0 to 1"):
        client.predict(prompt="a", adetailer=True, ad_confidence=5, api_name="/txt2img")


def test_inpaint_with_a_painted_layer(client, files):
    editor = {"background": handle_file(files / "photo.png"), "layers": [handle_file(files / "paint.png")],
              "composite": None}
    gallery, _, _ = client.predict(image=editor, prompt="a hat", steps=3, seed=1, api_name="/inpaint")
    image, parameters = parameters_of(gallery)
    assert image.size == (64, 64) and "Mask blur" in parameters["settings"]


def test_inpaint_with_an_uploaded_mask(client, files):
    Image.new("L", (64, 64), 0).save(files / "empty-mask.png")
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 32))
    mask.save(files / "mask.png")
    editor = {"background": handle_file(files / "photo.png"), "layers": [], "composite": None}
    gallery, _, _ = client.predict(image=editor, mask=handle_file(files / "mask.png"), prompt="sky", steps=3, seed=1,
                                   api_name="/inpaint")
    assert parameters_of(gallery)[0].size == (64, 64)


def test_outpaint_grows_the_canvas_and_keeps_the_picture(client, files):
    gallery, _, _ = client.predict(image=handle_file(files / "photo.png"), left=32, right=0, up=0, down=16,
                                   fill="noise", mask_blur=4, prompt="a wider view", steps=2, seed=3,
                                   api_name="/outpaint")
    image, parameters = parameters_of(gallery)
    assert image.size == (96, 80) and parameters["settings"]["Outpaint"] == "left 32 down 16, fill noise"
    photo = np.asarray(Image.open(files / "photo.png").convert("RGB"))
    assert np.array_equal(np.asarray(image.convert("RGB"))[:64 - 16, 32 + 16:], photo[:48, 16:])
    with pytest.raises(AppError, match="outpaint_right: must be from 0 to 1024"):
        client.predict(image=handle_file(files / "photo.png"), right=-8, api_name="/outpaint")


def test_controlnet(client, files):
    gallery, _, _ = client.predict(control_type="canny", control_image=handle_file(files / "photo.png"),
                                   prompt="a robot", steps=3, seed=1, api_name="/controlnet")
    _, parameters = parameters_of(gallery)
    assert "Module: canny" in parameters["settings"]["ControlNet 0"]


def test_each_controlnet_unit_gets_its_own_canny_thresholds(client, files):
    from pipelines.provenance import record_of

    photo = handle_file(files / "photo.png")
    gallery, _, _ = client.predict(control_type="canny", control_image=photo, low_threshold=100, high_threshold=200,
                                   enable_unit_2=True, control_type_2="canny", control_image_2=photo,
                                   low_threshold_2=20, high_threshold_2=40, prompt="edges", steps=1, seed=1,
                                   api_name="/controlnet")
    units = record_of(Image.open(gallery[0]["image"]))["parameters"]["control_units"]
    assert [u["preprocessor_params"] for u in units] == [{"low_threshold": 100, "high_threshold": 200},
                                                          {"low_threshold": 20, "high_threshold": 40}]
    with pytest.raises(AppError, match=r"control_units\[1\]\.low_threshold: must not be above high_threshold"):
        client.predict(control_type="canny", control_image=photo, enable_unit_2=True, control_type_2="canny",
                       control_image_2=photo, low_threshold_2=90, high_threshold_2=30, prompt="edges", steps=1,
                       api_name="/controlnet")


def test_a_bad_input_gets_a_clear_message_and_the_next_call_works(client, files):
    with pytest.raises(AppError, match="width: must be a multiple of 8"):
        client.predict(prompt="a", width=100, api_name="/txt2img")
    with pytest.raises(AppError, match="mask: nothing is painted"):
        editor = {"background": handle_file(files / "photo.png"), "layers": [], "composite": None}
        client.predict(image=editor, prompt="a", api_name="/inpaint")
    with pytest.raises(AppError, match="image: is missing"):
        client.predict(prompt="a", api_name="/img2img")
    gallery, _, _ = client.predict(prompt="still serving", steps=2, api_name="/txt2img")
    assert parameters_of(gallery)[1]["prompt"] == "still serving"


def test_lora_embedding_weights_clip_skip_vae_and_styles_through_the_endpoints(client):
    common = dict(seed=5, steps=2, api_name="/txt2img")
    plain, _, _ = client.predict(prompt="a cat", **common)
    with_lora, info, _ = client.predict(prompt="a cat <lora:tiny-lora:1>", negative_prompt="tinyemb", clip_skip=2,
                                        vae="tiny-vae.safetensors", **common)
    zero, _, _ = client.predict(prompt="a cat <lora:tiny-lora:0>", **common)
    plain_pixels = np.asarray(parameters_of(plain)[0], np.int16)
    assert np.abs(np.asarray(parameters_of(with_lora)[0], np.int16) - plain_pixels).max() > 10
    assert np.array_equal(np.asarray(parameters_of(zero)[0], np.int16), plain_pixels)
    settings = parameters_of(with_lora)[1]["settings"]
    assert settings["Lora hashes"].startswith("tiny-lora: ") and settings["TI hashes"].startswith("tinyemb: ")
    assert (settings["Clip skip"], settings["VAE"]) == ("2", "tiny-vae.safetensors")
    styled, info, _ = client.predict(prompt="a cat", styles=["Vivid"], **common)
    assert info.startswith("a cat, vivid colours")
    _, _, status = client.predict(prompt="a cat <lora:missing:1>", **common)
    assert "no LoRA named 'missing'" in status


def test_extras_upscales_through_gradio_client_and_keeps_the_parameters(client, files):
    gallery, info, _ = client.predict(prompt="a lighthouse", steps=2, seed=61, api_name="/txt2img")
    made = gallery[0]["image"]
    compare, notes, infotext = client.predict(image=handle_file(made), upscaler="tiny-esrgan", scale=2,
                                              brightness=1.2, api_name="/extras")
    before, after = compare
    assert Image.open(after).size == (128, 128) and Image.open(before).size == (64, 64)
    assert read_parameters(after) == infotext  # the file carries its parameters
    assert infotext.startswith(info) and "Postprocess upscale by: 2, Postprocess upscaler: tiny-esrgan" in infotext
    assert infotext.endswith("Filters: brightness 1.2") and notes == ""
    _, notes, _ = client.predict(image=handle_file(made), upscaler="None", gfpgan_visibility=1, api_name="/extras")
    assert "GFPGAN: no face found" in notes  # said next to the picture
    with pytest.raises(AppError, match="upscaler: unknown value 'ESRGAN_4x'; choose one of: None, Lanczos, Nearest, tiny-esrgan"):
        client.predict(image=handle_file(made), upscaler="ESRGAN_4x", scale=2, api_name="/extras")
