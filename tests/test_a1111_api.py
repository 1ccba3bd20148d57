"""Programs written for AUTOMATIC1111 use the studio: plain HTTP and the `webuiapi` client generate, read
parameters back, switch models, watch progress and stop runs; bad requests are answered by naming the field;
a login and --no-api close the routes."""

from __future__ import annotations

import base64
import io
import json
import threading
import time

import httpx
import numpy as np
import pytest
import webuiapi
from PIL import Image, ImageDraw

from pipelines.metadata import parse_parameters, read_parameters
from pipelines.tiny import tiny_extras_dir
from tests.live_app import live_app

QUEUE_SIZE = 1  # one API request at a time: a second one while a run goes is refused


@pytest.fixture(scope="module")
def studio(tiny_dir, tmp_path_factory):
    styles = tmp_path_factory.mktemp("a1111-styles") / "styles.csv"
    styles.write_text((tiny_dir / "a1111" / "styles.csv").read_text())
    with live_app(tiny_dir, tmp_path_factory.mktemp("a1111-outputs"), queue_size=QUEUE_SIZE,
                  models_dirs=[tiny_extras_dir(tiny_dir / "models.yaml")], styles=styles) as studio:
        yield studio


@pytest.fixture(scope="module")
def http(studio):
    with httpx.Client(base_url=studio.url.rstrip("/"), timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def api(studio):
    port = int(studio.url.rstrip("/").rsplit(":", 1)[1])
    return webuiapi.WebUIApi(host="127.0.0.1", port=port, sampler="Euler a", steps=2)


@pytest.fixture(scope="module")
def photo():
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((64, 64))


def b64(picture: Image.Image, prefix: str = "") -> str:
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return prefix + base64.b64encode(buffer.getvalue()).decode()


def decoded(text: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(text)))


def txt2img(http, timeout: float | None = None, **fields) -> httpx.Response:
    return http.post("/sdapi/v1/txt2img", json={"prompt": "a lighthouse", "steps": 2, "width": 64, "height": 64,
                                                **fields}, timeout=timeout or http.timeout)


def refused(response: httpx.Response, field: str, status: int = 422) -> str:
    """The A1111 error envelope, naming `field`; returns its text."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail", "body", "errors"}
    assert body["detail"].startswith(f"{field}: "), body["detail"]
    assert "Traceback" not in response.text
    return body["detail"]


# --- generation over plain HTTP ------------------------------------------------------------------


def test_txt2img_batches_have_consecutive_seeds_in_info_and_in_each_png(http):
    response = txt2img(http, prompt="a fox", seed=42, batch_size=2, n_iter=2, width=80, not_an_a1111_field=1)
    assert response.status_code == 200, response.text
    body = response.json()
    info = json.loads(body["info"])
    assert len(body["images"]) == 4
    assert info["seed"] == 42 and info["all_seeds"] == [42, 43, 44, 45]
    assert info["prompt"] == "a fox" and info["width"] == 80 and info["sd_model_name"] == "tiny-sd15"
    for seed, text, infotext in zip(info["all_seeds"], body["images"], info["infotexts"]):
        picture = decoded(text)
        assert picture.size == (80, 64) and picture.format == "PNG"
        assert read_parameters(picture) == infotext and f"Seed: {seed}," in infotext
    assert body["parameters"]["n_iter"] == 2 and "not_an_a1111_field" not in body["parameters"]


def test_wildcards_draw_a_prompt_per_picture_listed_in_all_prompts(http):
    response = txt2img(http, prompt="a __colors__ {house|boat}", seed=7, batch_size=2, n_iter=2)
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert info["all_seeds"] == [7, 8, 9, 10] and len(info["all_prompts"]) == 4
    for prompt, infotext in zip(info["all_prompts"], info["infotexts"]):
        colour, thing = prompt.split(" ")[1:]
        assert colour in ("red", "green", "blue") and thing in ("house", "boat")
        assert infotext.startswith(prompt + "\n") and infotext.endswith("\nTemplate: a __colors__ {house|boat}")
    assert refused(txt2img(http, prompt="__not_there__"), "prompt")


def test_the_xyz_plot_script_answers_its_grid_and_with_lone_images_each_cell(http):
    # A1111's script_args: axis types by their index in its txt2img list (4: Steps, 9: Sampler), a dropdown's choices
    args = [4, "2, 3", [], 9, "", ["Euler a", "DDIM"], 0, "", [], True, False, False, False, 0]
    body = txt2img(http, prompt="a fox", seed=3, script_name="X/Y/Z plot", script_args=args).json()
    info = json.loads(body["info"])
    assert len(body["images"]) == 1 and decoded(body["images"][0]).width > 2 * 64
    assert "Script: X/Y/Z plot, X Type: Steps, X Values: \"2, 3\", Y Type: Sampler" in info["infotexts"][0]
    args[10] = True  # include_lone_images
    body = txt2img(http, prompt="a fox", seed=3, script_name="x/y/z plot", script_args=args).json()
    info = json.loads(body["info"])
    assert len(body["images"]) == 5 and info["all_seeds"] == [3] * 5
    cells = [parse_parameters(text) for text in info["infotexts"][1:]]
    assert [(c["steps"], c["sampler"]) for c in cells] == [(2, "Euler a"), (3, "Euler a"), (2, "DDIM"), (3, "DDIM")]
    assert "Sigma Churn" in refused(txt2img(http, script_name="x/y/z plot", script_args=[13, "1, 2"]), "script_args[0]")
    assert "x/y/z plot" in http.get("/sdapi/v1/scripts").json()["txt2img"]


def test_a_split_sampler_and_scheduler_name_easel_s_sampler(http):
    response = txt2img(http, sampler_name="DPM++ 2M", scheduler="Karras", seed=1)
    info = json.loads(response.json()["info"])
    assert info["sampler_name"] == "DPM++ 2M Karras" and "Sampler: DPM++ 2M Karras" in info["infotexts"][0]


def test_what_easel_does_not_do_is_said_in_the_warnings(http):
    info = json.loads(txt2img(http, infotext="a cat\nSteps: 3, Sampler: Euler, Seed: 1").json()["info"])
    assert any(w.startswith("infotext") for w in info["warnings"])


def test_the_sdxl_refiner_by_a1111_s_fields(http):
    body = txt2img(http, prompt="a fox", seed=2, override_settings={"sd_model_checkpoint": "tiny-sdxl"},
                   refiner_checkpoint="tiny-sdxl-refiner [0123abcd]", refiner_switch_at=0.6).json()
    infotext = json.loads(body["info"])["infotexts"][0]
    assert "Model: tiny-sdxl, " in infotext and "Refiner: tiny-sdxl-refiner" in infotext
    assert "Refiner switch at: 0.6" in infotext
    assert "SD 1.x" in refused(txt2img(http, refiner_checkpoint="tiny-sdxl-refiner"), "refiner_checkpoint")


def test_flux_and_sd3_by_forge_s_fields(http, photo):
    flux = {"override_settings": {"sd_model_checkpoint": "tiny-flux"}, "sampler_name": "Euler", "seed": 8}
    forge = txt2img(http, cfg_scale=1, distilled_cfg_scale=2.5, **flux).json()  # what Forge's clients send
    info = json.loads(forge["info"])
    assert "CFG scale: 1, Distilled CFG Scale: 2.5, Seed: 8" in info["infotexts"][0]
    same = txt2img(http, cfg_scale=2.5, **flux).json()  # an A1111 client's cfg_scale is the guidance too
    assert np.array_equal(np.asarray(decoded(forge["images"][0])), np.asarray(decoded(same["images"][0])))
    sd3 = {"override_settings": {"sd_model_checkpoint": "tiny-sd3"}, "sampler_name": "Euler"}
    answer = http.post("/sdapi/v1/img2img", json={"prompt": "a fox", "steps": 3, "init_images": [b64(photo)],
                                                  "denoising_strength": 0.6, **sd3})
    assert answer.status_code == 200, answer.text
    assert decoded(answer.json()["images"][0]).size == (64, 64)
    warned = json.loads(txt2img(http, **{**sd3, "sampler_name": "DPM++ 2M"}).json()["info"])
    assert "Sampler: Euler, " in warned["infotexts"][0]
    assert "from 0 to 10" in refused(txt2img(http, distilled_cfg_scale=12, **flux), "distilled_cfg_scale")


def test_variation_seeds_as_a1111_numbers_them_across_batches(http):
    def pictures(**fields):
        answer = txt2img(http, **{"seed": 40, "batch_size": 2, "n_iter": 2, "steps": 3, **fields}).json()
        return [np.asarray(decoded(text).convert("RGB")) for text in answer["images"]], json.loads(answer["info"])

    plain, _ = pictures()
    varied, info = pictures(subseed=7, subseed_strength=1.0)
    toward, _ = pictures(seed=7, n_iter=1, batch_size=4)
    assert info["all_subseeds"] == [7, 8, 9, 10] and info["subseed_strength"] == 1.0
    assert "Variation seed: 9, Variation seed strength: 1" in info["infotexts"][2]
    # strength 1 is the variation seed's own picture: picture i of the whole job that of seed 7 + i
    assert all(np.abs(a.astype(int) - b.astype(int)).mean() < 3 for a, b in zip(varied, toward))
    assert not np.array_equal(varied[0], plain[0])
    refused(txt2img(http, subseed_strength=2), "subseed_strength")


def test_tiling_is_honoured_and_easel_s_freeu_and_pag_scale_are_taken(http):
    info = json.loads(txt2img(http, tiling=True, freeu=True, pag_scale=2).json()["info"])
    assert "Tiling: True" in info["infotexts"][0] and "PAG scale: 2" in info["infotexts"][0]
    assert "FreeU: b1 1.5 b2 1.6 s1 0.9 s2 0.2" in info["infotexts"][0] and not info["warnings"]
    refused(txt2img(http, pag_scale=50), "pag_scale")


def test_taesd_decoding_by_a1111s_option_and_easels_feature_cache(http):
    info = json.loads(txt2img(http, override_settings={"sd_vae_decode_method": "TAESD"}, feature_cache=2,
                              steps=4).json()["info"])
    assert "VAE Decoder: TAESD" in info["infotexts"][0] and "Feature cache: 2" in info["infotexts"][0]
    assert not info["warnings"]
    refused(txt2img(http, override_settings={"sd_vae_decode_method": "Tiny"}), "override_settings.sd_vae_decode_method")
    refused(txt2img(http, feature_cache=11), "feature_cache")


def test_restore_faces_restores_with_the_face_restoration_model_option(http):
    info = json.loads(txt2img(http, restore_faces=True).json()["info"])
    assert info["restore_faces"] is True and f"Face restoration: {info['face_restoration_model']}" in \
        info["infotexts"][0]
    assert any(w.startswith("restore_faces: ") and "found no face" in w for w in info["warnings"])  # noise: a note
    assert http.post("/sdapi/v1/options", json={"face_restoration_model": "GFPGAN"}).status_code == 200
    info = json.loads(txt2img(http, restore_faces=True).json()["info"])
    assert "Face restoration: GFPGAN" in info["infotexts"][0]
    http.post("/sdapi/v1/options", json={"face_restoration_model": "Ghost"})
    refused(txt2img(http, restore_faces=True), "restore_faces")
    http.post("/sdapi/v1/options", json={"face_restoration_model": None})


def test_enable_hr_draws_a_second_larger_pass_with_a1111_s_fields(http):
    assert {"name": "Latent (bicubic antialiased)"} in http.get("/sdapi/v1/latent-upscale-modes").json()
    body = txt2img(http, seed=5, enable_hr=True, hr_scale=1.5, hr_upscaler="Latent (nearest-exact)",
                   denoising_strength=0.6, hr_second_pass_steps=3, hr_sampler_name="Euler", hr_scheduler="Automatic",
                   hr_checkpoint_name="Use same checkpoint").json()
    info = json.loads(body["info"])
    picture = Image.open(io.BytesIO(base64.b64decode(body["images"][0])))
    assert picture.size == (96, 96) and not info["warnings"]
    settings = parse_parameters(info["infotexts"][0])["settings"]
    assert settings["Size"] == "64x64" and settings["Denoising strength"] == "0.6"  # A1111: Size is the first pass
    assert (settings["Hires upscale"], settings["Hires steps"], settings["Hires upscaler"]) == \
        ("1.5", "3", "Latent (nearest-exact)")
    assert settings["Hires sampler"] == "Euler" and info["denoising_strength"] == 0.6
    resized = txt2img(http, seed=5, enable_hr=True, hr_resize_x=128, hr_resize_y=80, hr_upscaler="Lanczos").json()
    assert Image.open(io.BytesIO(base64.b64decode(resized["images"][0]))).size == (128, 80)
    assert "Hires resize: 128x80" in json.loads(resized["info"])["infotexts"][0]
    refused(txt2img(http, enable_hr=True, hr_scale=100), "hr_scale")
    refused(txt2img(http, enable_hr=True, hr_upscaler="Latent (sharp)"), "hr_upscaler")
    refused(txt2img(http, enable_hr=True, denoising_strength=0), "denoising_strength")


def test_save_images_writes_into_the_outputs_folder(http, studio):
    body = txt2img(http, seed=777, save_images=True).json()
    saved = list(studio.outputs.rglob("*-777.png"))
    assert len(saved) == 1 and read_parameters(saved[0]) == json.loads(body["info"])["infotexts"][0]


def test_samples_format_chooses_jpeg_or_webp_for_answers_and_saved_pictures_as_in_a1111(http, studio):
    import piexif
    import piexif.helper

    assert refused(http.post("/sdapi/v1/options", json={"samples_format": "gif"}), "samples_format")
    try:
        for samples_format, pillow_name in (("jpg", "JPEG"), ("webp", "WEBP")):
            assert http.post("/sdapi/v1/options", json={"samples_format": samples_format}).status_code == 200
            body = txt2img(http, seed=880, save_images=True).json()
            infotext = json.loads(body["info"])["infotexts"][0]
            answered = decoded(body["images"][0])
            # A1111 reads its JPEG/WebP parameters this way (modules/images.py, read_info_from_image).
            comment = piexif.load(answered.info["exif"])["Exif"][piexif.ExifIFD.UserComment]
            assert answered.format == pillow_name and piexif.helper.UserComment.load(comment) == infotext
            [saved] = studio.outputs.rglob(f"*-880.{samples_format}")
            assert Image.open(saved).format == pillow_name and read_parameters(saved) == infotext
            saved.unlink()
    finally:
        http.post("/sdapi/v1/options", json={"samples_format": "png"})
    assert decoded(txt2img(http).json()["images"][0]).format == "PNG"


def test_png_info_reads_the_parameters_back(http):
    picture = txt2img(http, prompt="a red boat", negative_prompt="fog", seed=321).json()["images"][0]
    answer = http.post("/sdapi/v1/png-info", json={"image": "data:image/png;base64," + picture}).json()
    assert answer["info"].startswith("a red boat\nNegative prompt: fog")
    assert answer["parameters"]["Seed"] == "321" and answer["parameters"]["Prompt"] == "a red boat"
    assert (answer["parameters"]["Size-1"], answer["parameters"]["Size-2"]) == ("64", "64")


# --- the webuiapi client ---------------------------------------------------------------------------


def test_webuiapi_txt2img(api):
    result = api.txt2img(prompt="a cat", seed=7, width=64, height=64, alwayson_scripts={})
    assert len(result.images) == 1 and result.image.size == (64, 64)
    assert result.info["seed"] == 7 and result.parameters["seed"] == 7
    assert "Seed: 7," in result.image.info["parameters"] and "Sampler: Euler a," in result.image.info["parameters"]
    assert api.png_info(result.image).parameters["Seed"] == "7"


def test_webuiapi_img2img(api, photo):
    result = api.img2img(images=[photo], prompt="a painting", denoising_strength=0.5, seed=3, steps=4,
                         width=64, height=64, alwayson_scripts={})
    assert result.image.size == (64, 64)
    assert result.info["denoising_strength"] == 0.5 and "Denoising strength: 0.5" in result.info["infotexts"][0]
    assert result.parameters["init_images"] is None  # not echoed back, as A1111


def test_webuiapi_inpainting_keeps_what_is_outside_the_mask(api, photo):
    mask = Image.new("L", photo.size, 0)
    ImageDraw.Draw(mask).rectangle([16, 16, 47, 47], fill=255)
    result = api.img2img(images=[photo], mask_image=mask, prompt="a dog", denoising_strength=1.0, inpainting_fill=1,
                         inpaint_full_res=False, mask_blur=0, seed=5, steps=2, width=64, height=64,
                         alwayson_scripts={})
    assert result.image.size == (64, 64) and "Mask blur: 0" in result.info["infotexts"][0]
    difference = np.abs(np.asarray(result.image.convert("RGB"), float) - np.asarray(photo, float)).mean(axis=2)
    inside = np.asarray(mask) > 0
    assert difference[~inside].mean() < 3 < difference[inside].mean()


def test_outpainting_mk2_and_poor_man_s_outpainting_grow_the_canvas(api, http, photo):
    assert {"outpainting mk2", "poor man's outpainting"} <= set(http.get("/sdapi/v1/scripts").json()["img2img"])
    result = api.img2img(images=[photo], prompt="a wider view", denoising_strength=1.0, seed=2, steps=2,
                         script_name="outpainting mk2", script_args=[None, 32, 4, ["left", "down"], 1.0, 0.05],
                         alwayson_scripts={})
    assert result.image.size == (96, 96)  # 64 + 32 each way the picture grew
    picture = np.asarray(result.image.convert("RGB"))
    assert np.array_equal(picture[:64 - 16, 32 + 16:], np.asarray(photo)[:48, 16:])  # kept beyond the seam
    assert 'Outpaint: "left 32 down 32, fill noise"' in result.info["infotexts"][0]
    poor = http.post("/sdapi/v1/img2img", json={
        "init_images": [b64(photo)], "prompt": "more sky", "steps": 2, "denoising_strength": 1.0,
        "script_name": "Poor man's outpainting", "script_args": [16, 4, 1, ["right"]]}).json()
    assert decoded(poor["images"][0]).size == (80, 64)
    assert any(w.startswith("script_args[2]: 'original'") for w in json.loads(poor["info"])["warnings"])
    refused(http.post("/sdapi/v1/img2img", json={"init_images": [b64(photo)], "steps": 2,
                                                 "script_name": "outpainting mk2", "script_args": ["", -8]}),
            "script_args[1]")
    refused(http.post("/sdapi/v1/img2img", json={"init_images": [b64(photo)], "steps": 2,
                                                 "script_name": "outpainting mk2",
                                                 "script_args": ["", 64, 4, ["sideways"]]}), "script_args[3]")
    refused(txt2img(http, script_name="outpainting mk2"), "script_name")


def test_adetailer_units_redraw_the_face_and_write_adetailer_s_parameters(api, http):
    from skimage import data

    assert "face_dlib" in http.get("/adetailer/v1/ad_model").json()["ad_model"]
    face = Image.fromarray(data.astronaut()).resize((256, 256))
    unit = {"ad_model": "face_yolov8n.pt", "ad_denoising_strength": 0.5, "ad_use_steps": True, "ad_steps": 4}
    answer = http.post("/sdapi/v1/img2img", json={
        "init_images": [b64(face)], "prompt": "a portrait", "steps": 2, "seed": 4,
        "alwayson_scripts": {"ADetailer": {"args": [True, True, unit]}}})  # enable, skip img2img, one unit
    assert answer.status_code == 200, answer.text
    info = json.loads(answer.json()["info"])
    made = np.asarray(decoded(answer.json()["images"][0]).convert("RGB")).astype(int)
    difference = np.abs(made - np.asarray(face).astype(int)).mean(axis=2)  # the invisible watermark aside
    assert difference[41:84, 88:132].mean() > 10 > 3 > difference[:20].mean()  # the face redrawn, the top kept
    assert "ADetailer model: face_dlib" in info["infotexts"][0] and "ADetailer steps: 4" in info["infotexts"][0]
    assert any("instead of face_yolov8n.pt" in w for w in info["warnings"])
    # webuiapi's own ADetailer units; a picture of noise has no face: a note, not an error
    result = api.txt2img(prompt="a lighthouse", width=64, height=64, steps=4, seed=1,
                         adetailer=[webuiapi.ADetailer(ad_model="face_yolov8n.pt")])
    assert "ADetailer model: face_dlib" in result.info["infotexts"][0]
    assert any("no face found" in w for w in result.info["warnings"])
    refused(txt2img(http, alwayson_scripts={"ADetailer": {"args": [{"ad_model": "face_yolov8n.pt",
                                                                    "ad_confidence": 3}]}}),
            "alwayson_scripts.ADetailer.args[0].ad_confidence")
    refused(txt2img(http, alwayson_scripts={"ADetailer": {"args": [True, {"ad_model": "hand_yolov8n.pt"}]}}),
            "alwayson_scripts.ADetailer.args[1].ad_model")


def test_the_controlnet_extension_s_ip_adapter_units_are_image_prompts(api, http, photo):
    assert "ip-adapter_clip_sd15" in api.controlnet_module_list()
    assert "ip-adapter_tiny-sd15" in api.controlnet_model_list()
    unit = webuiapi.ControlNetUnit(image=photo, module="ip-adapter_clip_sd15", model="ip-adapter_tiny-sd15 [0a1b2c3d]",
                                   weight=0.7)
    steered = api.txt2img(prompt="a statue", controlnet_units=[unit], seed=11, width=64, height=64, steps=3)
    plain = api.txt2img(prompt="a statue", seed=11, width=64, height=64, steps=3)
    assert len(steered.images) == 1  # a reference picture, no detected map
    assert 'IP-Adapter 0: "Model: ip-adapter_tiny-sd15, Weight: 0.7, Mode: full' in steered.info["infotexts"][0]
    assert not np.array_equal(np.asarray(steered.image), np.asarray(plain.image))
    bad = {"controlnet": {"args": [{"module": "ip-adapter_clip_sdxl", "model": "ip-adapter_tiny-sdxl",
                                    "image": b64(photo)}]}}
    assert "64-wide" in refused(txt2img(http, alwayson_scripts=bad), "alwayson_scripts.controlnet.args[0].model")


def test_webuiapi_controlnet_canny_returns_the_picture_and_the_detected_map(api, photo):
    assert api.controlnet_version() == 2
    assert "controlnet-sd15-canny-tiny" in api.controlnet_model_list()
    assert {"canny", "tile_resample", "none"} <= set(api.controlnet_module_list())
    unit = webuiapi.ControlNetUnit(image=photo, module="canny", model="control_v11p_sd15_canny [d14c016b]",
                                   threshold_a=100, threshold_b=200, resize_mode="Crop and Resize")
    result = api.txt2img(prompt="a statue", controlnet_units=[unit], seed=11, width=64, height=64,
                         alwayson_scripts={})
    picture, detected = result.images
    assert picture.size == detected.size == (64, 64)
    assert set(np.unique(np.asarray(detected.convert("L")))) <= {0, 255}  # an edge map: black and white only
    assert "Module: canny" in result.info["extra_generation_params"]["ControlNet 0"]
    assert result.info["all_seeds"] == [11] and "ControlNet 0" in picture.info["parameters"]
    maps = api.controlnet_detect(images=[photo], module="canny", threshold_a=100, threshold_b=200)
    assert maps.info == "Success" and np.array_equal(np.asarray(maps.image.convert("L")),
                                                     np.asarray(detected.convert("L")))


def test_controlnet_units_as_older_clients_send_them(http, photo):
    """Numbers for enums, no `enabled` (counts as on), the legacy `input_image`; a disabled unit does nothing."""
    older = {"input_image": b64(photo, "data:image/png;base64,"), "module": "canny",
             "model": "controlnet-sd15-canny-tiny", "resize_mode": 1, "control_mode": 0, "processor_res": -1}
    body = txt2img(http, alwayson_scripts={"controlnet": {"args": [older]}}).json()
    assert len(body["images"]) == 2 and "ControlNet 0" in json.loads(body["info"])["extra_generation_params"]
    off = txt2img(http, alwayson_scripts={"controlnet": {"args": [{**older, "enabled": False}]}}).json()
    assert len(off["images"]) == 1 and "ControlNet 0" not in json.loads(off["info"])["extra_generation_params"]


@pytest.mark.parametrize("sampler,scheduler,easel", [
    ("DPM++ 2M", "Karras", "DPM++ 2M Karras"), ("DPM++ 2M", "automatic", "DPM++ 2M Karras"),  # A1111's automatic
    ("DPM++ 2M Karras", None, "DPM++ 2M Karras"), ("Euler a", "automatic", "Euler a"), ("k_euler", None, "Euler"),
    ("Euler a Karras", None, "Euler a"), ("DPM++ 2M SDE", "exponential", "DPM++ 2M SDE"), (None, None, None),
])
def test_a1111_sampler_names_become_easel_s(sampler, scheduler, easel):
    from api.samplers import easel_sampler

    assert easel_sampler(sampler, scheduler, []) == easel


def test_webuiapi_lists_models_and_samplers_and_switches_the_model(api):
    assert {"tiny-sd15", "tiny-sdxl"} <= set(api.util_get_model_names())
    assert {"Euler a", "DPM++ 2M Karras"} <= set(api.util_get_sampler_names())
    assert "karras" in api.util_get_scheduler_names()
    try:
        api.util_set_model("tiny-sdxl")
        assert api.util_get_current_model() == "tiny-sdxl"
        result = api.txt2img(prompt="x", seed=1, width=64, height=64, alwayson_scripts={})
        assert result.info["sd_model_name"] == "tiny-sdxl" and "Model: tiny-sdxl" in result.info["infotexts"][0]
    finally:
        api.util_set_model("tiny-sd15")
    assert api.txt2img(prompt="x", width=64, height=64, alwayson_scripts={}).info["sd_model_name"] == "tiny-sd15"


def test_override_settings_choose_the_model_for_one_request(http):
    body = txt2img(http, override_settings={"sd_model_checkpoint": "tiny-sdxl [0123456789]"}).json()
    assert json.loads(body["info"])["sd_model_name"] == "tiny-sdxl"
    assert http.get("/sdapi/v1/options").json()["sd_model_checkpoint"] == "tiny-sd15"


def test_what_clients_ask_on_connect_answers_json(api, http):
    assert "controlnet" in api.get_scripts()["txt2img"]
    for answer in (api.get_options(), api.get_upscalers(), api.get_sd_vae(), api.get_loras(), api.get_embeddings(),
                   api.get_cmd_flags(), api.get_memory(), api.get_progress(), api.refresh_checkpoints()):
        assert answer is None or isinstance(answer, (dict, list))
    assert api.set_options({"samples_format": "png", "a_key_a1111_does_not_have": "x" * 1000}) is None
    options = api.get_options()
    assert options["samples_format"] == "png" and "a_key_a1111_does_not_have" not in options  # not kept
    assert api.interrupt() == {} and api.skip() is None  # nothing running: nothing happens
    assert http.post("/sdapi/v1/unload-checkpoint").json() == {}
    assert http.post("/sdapi/v1/reload-checkpoint").json() == {}


def test_loras_embeddings_vaes_and_styles_are_listed_as_a1111_lists_them(api, http):
    loras = {lora["name"]: lora for lora in api.get_loras()}
    assert {"tiny-lora", "tiny-lora-peft"} <= set(loras)
    assert set(loras["tiny-lora"]) == {"name", "alias", "path", "metadata"}
    assert loras["tiny-lora"]["metadata"]["ss_network_module"] == "networks.lora"
    embeddings = api.get_embeddings()
    assert embeddings["loaded"]["tinyemb"]["vectors"] == 2 and embeddings["loaded"]["tinyemb"]["shape"] == 32
    assert [v["model_name"] for v in api.get_sd_vae()] == ["tiny-vae.safetensors"]
    assert {"Cinematic", "Vivid"} <= {s["name"] for s in api.get_prompt_styles()}
    for route in ("refresh-checkpoints", "refresh-embeddings", "refresh-vae"):
        assert http.post(f"/sdapi/v1/{route}").status_code == 200


def test_refresh_loras_finds_a_file_added_while_running(http, tiny_dir):
    added = tiny_extras_dir(tiny_dir / "models.yaml") / "Lora" / "added-later.safetensors"
    added.write_bytes((added.parent / "tiny-lora.safetensors").read_bytes())
    try:
        assert "added-later" not in {lora["name"] for lora in http.get("/sdapi/v1/loras").json()}
        assert http.post("/sdapi/v1/refresh-loras").status_code == 200
        assert "added-later" in {lora["name"] for lora in http.get("/sdapi/v1/loras").json()}
    finally:
        added.unlink()
        http.post("/sdapi/v1/refresh-loras")


def test_lora_embedding_clip_skip_vae_and_styles_through_the_api(http):
    def picture(**fields):
        body = txt2img(http, **{"prompt": "a cat", "seed": 3, **fields}).json()
        return np.asarray(decoded(body["images"][0]), np.int16), json.loads(body["info"])

    plain, _ = picture()
    tagged, info = picture(prompt="a cat <lora:tiny-lora:1>", negative_prompt="tinyemb",
                           override_settings={"CLIP_stop_at_last_layers": 2, "sd_vae": "tiny-vae.safetensors"})
    assert np.abs(tagged - plain).max() > 10
    settings = parse_parameters(info["infotexts"][0])["settings"]
    assert settings["Lora hashes"].startswith("tiny-lora: ") and settings["TI hashes"].startswith("tinyemb: ")
    assert (settings["Clip skip"], settings["VAE"]) == ("2", "tiny-vae.safetensors")
    styled, info = picture(styles=["Vivid"])
    assert info["infotexts"][0].startswith("a cat, vivid colours") and not info["warnings"]
    _, info = picture(prompt="a cat <lora:missing:1>", override_settings={"eta_noise_seed_delta": 31337})
    assert any("no LoRA named 'missing'" in w for w in info["warnings"])
    assert any("eta_noise_seed_delta" in w for w in info["warnings"])


def test_clip_skip_and_vae_options_are_checked_and_used(http):
    assert http.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 2}).status_code == 200
    try:
        info = json.loads(txt2img(http, seed=3).json()["info"])
        assert "Clip skip: 2" in info["infotexts"][0]
    finally:
        http.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 1})
    refused(http.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 40}), "CLIP_stop_at_last_layers")
    refused(http.post("/sdapi/v1/options", json={"sd_vae": "no-such-vae"}), "sd_vae")
    refused(txt2img(http, override_settings={"sd_vae": "no-such-vae"}), "override_settings.sd_vae")


# --- progress, interrupt, the queue ---------------------------------------------------------------


class LongRun:
    """A 100-step run at 128 px (unless told otherwise), in a thread, as another client would start it."""

    def __init__(self, http, **fields):
        self.response = None
        self.fields = {"steps": 100, "width": 128, "height": 128, "seed": 99, **fields}
        self.thread = threading.Thread(target=self._run, args=(http,), daemon=True)
        self.thread.start()

    def _run(self, http):
        self.response = txt2img(http, **self.fields)

    def progress_at(self, http, step: int) -> dict:
        """Poll /progress until the run is at `step` or later and shows a live preview."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            report = http.get("/sdapi/v1/progress").json()
            if report["state"]["sampling_step"] >= step and report["current_image"]:
                return report
            assert self.thread.is_alive(), "the run ended before progress was seen"
            time.sleep(0.01)
        raise AssertionError("no progress within 60 s")

    def finish(self) -> httpx.Response:
        self.thread.join(timeout=60)
        return self.response


def test_progress_shows_the_run_and_interrupt_stops_it_early(http):
    run = LongRun(http)
    report = run.progress_at(http, 3)
    assert 0 < report["progress"] < 1 and report["state"]["sampling_steps"] == 100
    assert report["state"]["job_count"] == 1 and report["textinfo"].startswith("step ")
    assert decoded(report["current_image"]).format == "PNG"
    assert http.post("/sdapi/v1/interrupt").json() == {}
    response = run.finish()
    assert response.status_code == 200
    info = json.loads(response.json()["info"])
    assert response.json()["images"] == [] and any("interrupted" in w for w in info["warnings"])
    assert http.get("/sdapi/v1/progress").json()["state"]["job_count"] == 0  # the device is free again
    started = time.monotonic()
    assert len(txt2img(http).json()["images"]) == 1 and time.monotonic() - started < 30


def test_skip_drops_the_batch_in_progress_and_the_next_batch_runs(http):
    run = LongRun(http, n_iter=2, width=64, height=64)
    assert run.progress_at(http, 3)["state"]["job_no"] == 0
    assert http.post("/sdapi/v1/skip").json() is None
    body = run.finish().json()
    info = json.loads(body["info"])
    assert len(body["images"]) == 1 and info["all_seeds"] == [100]  # only the second batch: seed 99 + 1


def test_a_client_that_hangs_up_frees_the_device(http, studio):
    before = studio.manager.last_run  # replaced by every run that finishes
    with pytest.raises(httpx.ReadTimeout):
        txt2img(http, steps=150, width=128, height=128, timeout=1.0)
    deadline = time.monotonic() + 30
    while http.get("/sdapi/v1/progress").json()["state"]["job_count"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert http.get("/sdapi/v1/progress").json()["state"]["job_count"] == 0
    assert studio.manager.last_run is before  # it stopped, it did not finish
    assert txt2img(http).status_code == 200


def test_beyond_the_queue_size_a_request_is_refused_with_503(http):
    run = LongRun(http)
    run.progress_at(http, 1)
    busy = txt2img(http)
    assert busy.status_code == 503 and "queue full" in busy.json()["detail"]
    http.post("/sdapi/v1/interrupt")
    assert run.finish().status_code == 200
    assert txt2img(http).status_code == 200


# --- bad requests ----------------------------------------------------------------------------------


def unit(**fields) -> dict:
    return {"alwayson_scripts": {"controlnet": {"args": [{"module": "canny", "model": "sd1/canny", **fields}]}}}


BAD_VALUES = [
    ("steps far too many", {"steps": 100_000}, "steps"),
    ("unknown sampler", {"sampler_name": "Nope"}, "sampler_name"),
    ("unknown scheduler", {"sampler_name": "Euler", "scheduler": "wobbly"}, "scheduler"),
    ("guidance too high", {"cfg_scale": 99}, "cfg_scale"),
    ("width not a multiple of 8", {"width": 100}, "width"),
    ("n_iter zero", {"n_iter": 0}, "n_iter"),
    ("seeds past the largest for the last batch", {"seed": 2**32 - 2, "batch_size": 2, "n_iter": 2}, "seed"),
    ("unknown model", {"override_settings": {"sd_model_checkpoint": "no-such-model"}},
     "override_settings.sd_model_checkpoint"),
    ("ControlNet unit without a picture", unit(), "alwayson_scripts.controlnet.args[0].image"),
    ("ControlNet unit with an unknown module", unit(module="x-ray", image="aGk="),
     "alwayson_scripts.controlnet.args[0].module"),
    ("ControlNet unit with an unknown model", unit(model="control_v11_mystery", image="aGk="),
     "alwayson_scripts.controlnet.args[0].model"),
    ("ControlNet weight too high", unit(weight=9, image="PHOTO"), "alwayson_scripts.controlnet.args[0].weight"),
    ("ControlNet thresholds crossed", unit(threshold_a=250, threshold_b=10, image="PHOTO"),
     "alwayson_scripts.controlnet.args[0].threshold_a"),
]


@pytest.mark.parametrize("fields,field", [case[1:] for case in BAD_VALUES], ids=[case[0] for case in BAD_VALUES])
def test_a_bad_value_is_answered_by_naming_the_field(http, photo, fields, field):
    fields = json.loads(json.dumps(fields).replace('"PHOTO"', json.dumps(b64(photo))))
    refused(txt2img(http, **fields), field)


def test_bad_pictures_are_answered_by_naming_the_field(http, photo):
    refused(http.post("/sdapi/v1/img2img", json={"init_images": ["not base64 at all!"]}), "init_images[0]")
    not_a_picture = base64.b64encode(b"#!/bin/sh\necho these are not pixels\n").decode()
    assert "not a picture" in refused(http.post("/sdapi/v1/img2img", json={"init_images": [not_a_picture]}),
                                      "init_images")
    refused(http.post("/sdapi/v1/img2img", json={"steps": 2}), "init_images")
    black = b64(Image.new("L", (64, 64), 0))
    assert "nothing is painted" in refused(
        http.post("/sdapi/v1/img2img", json={"init_images": [b64(photo)], "mask": black, "steps": 2}), "mask")


def test_wrong_types_get_fastapi_s_422(http):
    for fields, where in (({"steps": "many"}, "steps"), ({"prompt": ["a", "list"]}, "prompt"), ({"seed": 1.5}, "seed")):
        response = txt2img(http, **fields)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", where]
    assert http.post("/sdapi/v1/txt2img", content=b"{not json", headers={"content-type": "application/json"}
                     ).status_code == 422


def test_a_body_over_the_cap_is_refused_whether_it_says_its_length_or_streams_it(http):
    huge = json.dumps({"prompt": "x", "init_images": ["A" * (81 * 2**20)]}).encode()  # over 4 x --max-upload (20 MB)
    assert http.post("/sdapi/v1/img2img", content=huge, headers={"content-type": "application/json"}
                     ).status_code == 413

    def streamed():
        for start in range(0, len(huge), 2**20):
            yield huge[start:start + 2**20]

    response = http.post("/sdapi/v1/img2img", content=streamed(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "request body over" in response.json()["detail"]
    assert txt2img(http).status_code == 200


def test_a_page_of_another_site_cannot_use_the_api(http):
    # what a browser sends when a page elsewhere makes it post here (the login cookie would go along)
    response = http.post("/sdapi/v1/interrupt", headers={"origin": "https://elsewhere.example"})
    assert response.status_code == 403 and "other sites" in response.json()["detail"]
    own = http.base_url.netloc.decode()
    assert http.post("/sdapi/v1/interrupt", headers={"origin": f"http://{own}"}).status_code == 200
    assert http.post("/sdapi/v1/interrupt").status_code == 200  # programs send no Origin


def test_a_model_that_cannot_load_gets_a_clear_message_and_the_server_keeps_serving(http, tiny_dir, tmp_path):
    whole = (tiny_dir / "sd15-tiny.safetensors").read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(whole[: len(whole) // 2])
    response = txt2img(http, override_settings={"sd_model_checkpoint": str(tmp_path / "truncated.safetensors")})
    assert response.status_code == 500 and response.json()["error"] == "ModelLoadError"
    assert "download it again" in response.json()["detail"] and "Traceback" not in response.text
    assert txt2img(http).status_code == 200


def test_out_of_memory_and_crashes_are_answered_and_the_server_keeps_serving(http, studio, monkeypatch):
    from pipelines.errors import OutOfMemory

    for error, words in ((OutOfMemory("not enough memory: lower the size or the batch"), "lower the size"),
                         (RuntimeError("kernel exploded"), "RuntimeError: kernel exploded")):
        def failing(*args, _error=error, **kwargs):
            raise _error

        monkeypatch.setitem(vars(studio.manager), "generate", failing)  # in front of the engine's own
        response = txt2img(http)
        assert response.status_code == 500 and words in response.json()["detail"]
        assert "Traceback" not in response.text
        monkeypatch.undo()
    assert txt2img(http).status_code == 200


# --- a login, and --no-api ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(tiny_dir):
    with live_app(tiny_dir, None, auth=[("ann", "s3cret-pass")]) as studio:
        yield studio


def test_with_a_login_the_api_asks_for_basic_credentials_and_accepts_them(guarded):
    assert not guarded.manager.started  # serving the API did not import the engine at launch
    url = guarded.url.rstrip("/")
    for path in ("/sdapi/v1/sd-models", "/controlnet/version"):
        stranger = httpx.get(url + path)
        assert stranger.status_code == 401 and stranger.headers["www-authenticate"].startswith("Basic")
        assert httpx.get(url + path, auth=("ann", "wrong")).status_code == 401
        assert httpx.get(url + path, auth=("ann", "s3cret-pass")).status_code == 200
    assert httpx.post(url + "/sdapi/v1/txt2img", json={"prompt": "a"}).status_code == 401
    client = webuiapi.WebUIApi(host="127.0.0.1", port=int(url.rsplit(":", 1)[1]), username="ann",
                               password="s3cret-pass", steps=2)
    assert client.txt2img(prompt="logged in", width=64, height=64, alwayson_scripts={}).image.size == (64, 64)


@pytest.mark.slow  # launches its own studio
def test_no_api_turns_the_routes_off(tiny_dir):
    with live_app(tiny_dir, None, api=False) as studio:
        url = studio.url.rstrip("/")
        assert httpx.get(url + "/sdapi/v1/sd-models").status_code == 404
        assert httpx.post(url + "/sdapi/v1/txt2img", json={"prompt": "a"}).status_code == 404
        assert httpx.get(url + "/controlnet/version").status_code == 404
    from server.app_settings import parse

    assert parse([]).api and not parse(["--no-api"]).api


def test_the_upscalers_are_listed_and_extra_single_image_upscales_as_a1111_does(api, photo):
    names = [u["name"] for u in api.get_upscalers()]
    assert names[:3] == ["None", "Lanczos", "Nearest"] and "tiny-esrgan" in names
    result = api.extra_single_image(photo, upscaler_1="tiny-esrgan", upscaling_resize=2)
    assert result.image.size == (128, 128)
    assert "Postprocess upscaler: tiny-esrgan" in result.info
    asked = api.extra_single_image(photo, upscaler_1="Lanczos", resize_mode=1, upscaling_resize_w=96,
                                   upscaling_resize_h=96, gfpgan_visibility=0.5)
    assert asked.image.size == (96, 96)
    assert "GFPGAN: no face found" in asked.info  # the 64-pixel astronaut's face is too small: said, not skipped


def test_extra_single_image_restores_faces_with_a1111_s_fields(api, http):
    import skimage.data

    assert [r["name"] for r in http.get("/sdapi/v1/face-restorers").json()] == ["GFPGAN"]
    face = Image.fromarray(skimage.data.astronaut()).resize((256, 256))
    restored = api.extra_single_image(face, upscaler_1="None", gfpgan_visibility=0.5)
    assert restored.image.size == (256, 256) and "GFPGAN visibility: 0.5" in restored.info
    assert np.abs(np.asarray(restored.image, np.int16) - np.asarray(face, np.int16)).max() > 30
    missing = http.post("/sdapi/v1/extra-single-image", json={"image": b64(face), "codeformer_visibility": 1})
    assert "models/Codeformer/" in refused(missing, "codeformer_visibility")  # no CodeFormer file: where to put one


def test_extras_blend_a_second_upscaler_cut_to_a_size_and_take_a_batch(api, photo):
    blended = api.extra_single_image(photo, upscaler_1="tiny-esrgan", upscaler_2="tiny-realesr-compact",
                                     extras_upscaler_2_visibility=0.5, upscaling_resize=4)
    assert blended.image.size == (256, 256)
    assert "Postprocess upscaler 2: tiny-realesr-compact" in blended.info  # a Real-ESRGAN .pth, weights only
    cut = api.extra_single_image(photo, upscaler_1="Lanczos", resize_mode=1, upscaling_resize_w=160,
                                 upscaling_resize_h=96, upscaling_crop=True)
    assert cut.image.size == (160, 96)
    batch = api.extra_batch_images([photo, photo.rotate(90)], upscaler_1="Nearest", upscaling_resize=2)
    assert [picture.size for picture in batch.images] == [(128, 128), (128, 128)]
