"""A person in a real browser: types a prompt, generates, switches tabs, paints a mask and inpaints, previews a
ControlNet map. Screenshots are kept in test-artifacts/ for a human to look at."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser  # slow too: it uses the app_server fixture (conftest.py)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

if not os.path.exists(CHROMIUM):
    if os.environ.get("EASEL_REQUIRE_BROWSER"):  # CI installs Chromium: there a missing browser is a failure
        raise RuntimeError("Chromium is required for the browser test (apt-get install chromium)")
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def page(app_server):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.set_default_timeout(120_000)
        page.goto(app_server.url)
        page.wait_for_selector("#txt2img-prompt textarea")
        yield page
        browser.close()


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    from PIL import Image
    from skimage import data

    path = tmp_path_factory.mktemp("browser") / "astronaut.png"
    Image.fromarray(data.astronaut()).resize((128, 128)).save(path)
    return path


def wait_for_parameters(page, tab: str, words: str) -> str:
    page.wait_for_function(
        f"() => (document.querySelector('#{tab}-info textarea')?.value || '').includes({words!r})")
    return page.input_value(f"#{tab}-info textarea")


def open_tab(page, name: str, shows: str, tries: int = 5) -> None:
    """Open a tab and wait until `shows`, a selector inside it, is visible. On a loaded machine an earlier
    answer that selects a tab (PNG Info's "send to") can land after the click: then click again."""
    for _ in range(tries):
        page.get_by_role("tab", name=name).click()
        try:
            page.locator(shows).first.wait_for(state="visible", timeout=10_000)
            return
        except Exception:  # noqa: BLE001 - another tab was selected after the click: try again
            continue
    raise AssertionError(f"the {name} tab did not open")


def upload(page, selector: str, path, done_js: str, tries: int = 4) -> None:
    """Upload into a component of a tab just opened; until the tab has mounted, a file set on its input
    is dropped silently, so set it again until the component shows a picture or the page shows the upload's
    effect (`done_js`). Once the picture is in, wait as long as the handler takes: on a loaded machine
    reading a picture's watermark and credentials can take longer than a try."""
    page.locator(selector).wait_for(state="visible")
    for _ in range(tries):
        page.locator(f"{selector} input[type=file]").set_input_files([])  # so that setting it again is a change
        page.locator(f"{selector} input[type=file]").set_input_files(path)
        try:
            page.wait_for_function(f"() => {done_js}", timeout=10_000)
            return
        except Exception:  # noqa: BLE001 - not mounted yet, or a slow handler
            if page.locator(f"{selector} img").count():  # the picture is in: the handler is slow
                page.wait_for_function(f"() => {done_js}")
                return
    raise AssertionError(f"uploading into {selector} had no effect")


def test_type_a_prompt_and_generate(page):
    page.fill("#txt2img-prompt textarea", "a lighthouse at dusk")
    page.click("#txt2img-generate")
    info = wait_for_parameters(page, "txt2img", "Steps:")
    assert info.startswith("a lighthouse at dusk")
    assert page.locator("#txt2img-gallery img").count() >= 1
    assert "denoise" in page.inner_text("#txt2img-status")
    page.screenshot(path=ARTIFACTS / "01-text-to-image.png", full_page=True)


def test_paint_a_mask_and_inpaint(page, photo):
    open_tab(page, "Inpaint", "#inpaint-editor")
    upload(page, "#inpaint-editor", photo, "document.querySelector('#inpaint-width input[type=number]').value === '128'")
    canvas = page.locator("#inpaint-editor canvas").last
    canvas.wait_for()
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 30, y - 10)  # a brush stroke across the middle of the picture
    page.mouse.down()
    for step in range(12):
        page.mouse.move(x - 30 + step * 5, y - 10 + step * 2)
    page.mouse.up()
    page.fill("#inpaint-prompt textarea", "a golden helmet")
    page.click("#inpaint-generate")
    info = wait_for_parameters(page, "inpaint", "Mask blur")
    assert "Size: 128x128" in info  # the uploaded picture set the size
    page.screenshot(path=ARTIFACTS / "02-inpaint.png", full_page=True)


def test_inpaint_with_nothing_painted_shows_a_message_naming_the_mask(page, photo):
    page.locator("#inpaint-editor button[aria-label='Clear canvas']").click()
    page.locator("#inpaint-editor input[type=file]").set_input_files(photo)
    page.wait_for_timeout(1000)
    page.click("#inpaint-generate")
    toast = page.get_by_text("mask: nothing is painted")
    toast.wait_for()
    page.screenshot(path=ARTIFACTS / "03-inpaint-error.png", full_page=True)


def _stroke(page, canvas_selector: str) -> None:
    canvas = page.locator(canvas_selector).last
    canvas.wait_for()
    canvas.scroll_into_view_if_needed()  # the mouse reaches only what the window shows
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 40, y)
    page.mouse.down()
    for step in range(16):
        page.mouse.move(x - 40 + step * 5, y + step)
    page.mouse.up()


def _record_of_shown(page, gallery_selector: str) -> dict:
    """The record inside the picture the gallery shows, fetched as the browser has it."""
    import io

    from PIL import Image

    from pipelines.provenance import record_of

    source = page.locator(f"{gallery_selector} img").first.get_attribute("src")
    return record_of(Image.open(io.BytesIO(page.request.get(source).body())))


def test_sketch_in_colour_on_image_to_image_and_inpaint(page, photo):
    from PIL import Image

    from pipelines.provenance import pixel_sha256

    open_tab(page, "Image to image", "#img2img-image")
    upload(page, "#img2img-image", photo, "document.querySelector('#img2img-width input[type=number]').value === '128'")
    page.get_by_role("tab", name="Sketch").click()
    page.locator("#img2img-sketch canvas").last.wait_for()
    _stroke(page, "#img2img-sketch canvas")
    page.fill("#img2img-prompt textarea", "a red scarf")
    page.click("#img2img-generate")
    wait_for_parameters(page, "img2img", "a red scarf")
    page.screenshot(path=ARTIFACTS / "03b-sketch.png", full_page=True)
    # the starting picture was the photo with the stroke on it, not the photo alone
    started = _record_of_shown(page, "#img2img-gallery")["inputs"]["image_sha256"]
    assert started != pixel_sha256(Image.open(photo).convert("RGB"))
    page.get_by_role("tab", name="Picture").click()  # as the tests after this one expect to find it
    open_tab(page, "Inpaint", "#inpaint-editor")
    upload(page, "#inpaint-editor", photo, "document.querySelector('#inpaint-editor canvas') !== null")
    page.locator("#inpaint-sketch input").check()
    _stroke(page, "#inpaint-editor canvas")
    page.fill("#inpaint-prompt textarea", "a painted stripe")
    page.click("#inpaint-generate")
    wait_for_parameters(page, "inpaint", "a painted stripe")
    page.screenshot(path=ARTIFACTS / "04c-inpaint-sketch.png", full_page=True)
    started = _record_of_shown(page, "#inpaint-gallery")["inputs"]["image_sha256"]
    assert started != pixel_sha256(Image.open(photo).convert("RGB"))  # the paint went into the picture
    page.locator("#inpaint-sketch input").uncheck()  # a mask again: the picture starts as it was
    before = page.input_value("#inpaint-info textarea")
    page.click("#inpaint-generate")
    page.wait_for_function("(before) => { const info = document.querySelector('#inpaint-info textarea')?.value;"
                           " return info && info !== before; }", arg=before)  # a new seed: the run is done
    started = _record_of_shown(page, "#inpaint-gallery")["inputs"]["image_sha256"]
    assert started == pixel_sha256(Image.open(photo).convert("RGB"))


def test_restore_faces_and_the_detailer_redraw_the_face_of_the_starting_picture(page, tmp_path):
    from PIL import Image
    from skimage import data

    face = tmp_path / "face.png"
    Image.fromarray(data.astronaut()).resize((256, 256)).save(face)
    open_tab(page, "Image to image", "#img2img-generate")
    page.get_by_role("tab", name="Picture").click()
    upload(page, "#img2img-image", face, "document.querySelector('#img2img-width input[type=number]').value === '256'")
    page.locator("#img2img-detailer").get_by_text("Faces: restore, detail (ADetailer)").click()
    page.locator("#img2img-restore-faces input").click()
    page.get_by_role("option", name="GFPGAN").click()
    page.locator("#img2img-adetailer input").check()
    page.locator("#img2img-ad-skip input").check()
    page.fill("#img2img-ad-prompt textarea", "a smiling face")
    page.fill("#img2img-prompt textarea", "a portrait of an astronaut")
    page.click("#img2img-generate")
    info = wait_for_parameters(page, "img2img", "ADetailer model")
    assert "ADetailer model: face_dlib" in info and "ADetailer prompt: a smiling face" in info
    assert "Face restoration: GFPGAN" in info
    page.screenshot(path=ARTIFACTS / "03c-detailer.png", full_page=True)
    page.locator("#img2img-adetailer input").uncheck()


def test_outpaint_grows_the_picture_to_the_left_from_noise(page, photo):
    open_tab(page, "Outpaint", "#outpaint-image")
    upload(page, "#outpaint-image", photo, "document.querySelector('#outpaint-image img') !== null")
    for side, pixels in (("left", 64), ("right", 0), ("up", 0), ("down", 0)):
        page.locator(f"#outpaint-{side} input[type=number]").fill(str(pixels))
        page.locator(f"#outpaint-{side} input[type=number]").press("Enter")
    page.get_by_label("Noise").check()
    page.fill("#outpaint-prompt textarea", "a wider view of space")
    page.click("#outpaint-generate")
    info = wait_for_parameters(page, "outpaint", "Outpaint:")
    assert 'Outpaint: "left 64, fill noise"' in info and "Size: 192x128" in info
    page.wait_for_function("() => document.querySelector('#outpaint-gallery img')?.naturalWidth === 192")
    page.screenshot(path=ARTIFACTS / "04b-outpaint.png", full_page=True)


def test_preview_a_controlnet_map_then_generate(page, photo):
    open_tab(page, "ControlNet", "#controlnet-image")
    upload(page, "#controlnet-image", photo, "document.querySelector('#controlnet-image img') !== null")
    page.click("#controlnet-preview")
    page.locator("#controlnet-map img").wait_for()
    page.fill("#controlnet-prompt textarea", "a robot")
    page.click("#controlnet-generate")
    info = wait_for_parameters(page, "controlnet", "ControlNet 0")
    assert "Module: canny" in info
    page.screenshot(path=ARTIFACTS / "04-controlnet.png", full_page=True)


def test_the_models_panel_shows_what_is_loaded(page):
    open_tab(page, "Models", "#models-report")
    page.get_by_role("button", name="Refresh").click()
    page.locator("#models-report").get_by_text("unet").first.wait_for()  # what the inpaint test loaded
    report = page.inner_text("#models-report")
    assert "SD 1.x inpainting · tiny-sd15-inpaint" in report and "Library" in report  # the whole library too
    assert "Precision" in report and ("natively" in report or "no native bf16" in report)  # --dtype auto's why
    page.screenshot(path=ARTIFACTS / "05-models.png", full_page=True)


def test_send_a_picture_and_its_settings_to_image_to_image(page):
    open_tab(page, "Text to image", "#txt2img-prompt textarea")
    page.locator("#txt2img-gallery img").first.click()  # select the picture just made
    page.click("#txt2img-send-img2img")
    page.locator("#img2img-image img").wait_for()
    assert page.input_value("#img2img-prompt textarea") == "a lighthouse at dusk"
    page.screenshot(path=ARTIFACTS / "06-sent-to-img2img.png", full_page=True)


def test_stop_mid_run_many_times_in_a_row_and_generate_again(page, app_server):
    import re

    open_tab(page, "Text to image", "#txt2img-prompt textarea")
    page.fill("#txt2img-steps input[type=number]", "150")
    page.fill("#txt2img-width input[type=number]", "512")
    stopped_seeds = [5551, 5552, 5553]
    for seed in stopped_seeds[:2]:
        page.fill("#txt2img-seed input", str(seed))
        page.click("#txt2img-generate")
        page.get_by_text(re.compile(r"step \d+/150")).first.wait_for()  # it is denoising
        # the click as the button receives it: Chromium's input pipeline was seen to stall on this busy
        # 2-core machine while a 512-pixel run streamed previews, though the page itself kept answering
        page.locator("#txt2img-stop").dispatch_event("click")
        page.get_by_text(re.compile(r"step \d+/150")).first.wait_for(state="detached")
        page.locator("#txt2img-status").get_by_text("Stopped.").wait_for()  # the status says so, once
        assert page.locator("#txt2img-generate").is_visible()  # Generate is back in Stop's place
    # Stop pressed at once after Generate, before the page heard anything of the run: it names the new run
    page.fill("#txt2img-seed input", str(stopped_seeds[2]))
    before, after = page.evaluate("""() => {
        const id = () => window.easelRuns?.["txt2img-generate"]?.at(-1);
        const before = id();
        document.querySelector("#txt2img-generate").click();
        const after = id();
        document.querySelector("#txt2img-stop").click();
        return [before, after];
    }""")
    assert after and after != before, "the Generate click did not name its run at once"
    page.fill("#txt2img-steps input[type=number]", "2")
    page.fill("#txt2img-width input[type=number]", "64")
    page.fill("#txt2img-seed input", "5554")
    page.click("#txt2img-generate")
    info = wait_for_parameters(page, "txt2img", "Seed: 5554")
    assert "Steps: 2" in info
    # generations are saved as <date>-<time>-<microseconds>-<seed>; other doors' pictures are named otherwise
    saved = {int(path.stem.rsplit("-", 1)[1]) for path in app_server.outputs.rglob("*.png")
             if re.fullmatch(r"\d{8}-\d{6}-\d{6}-\d+", path.stem)}
    assert 5554 in saved
    assert not saved & set(stopped_seeds), f"a stopped run went on to the end: {app_server.log.read_text()[-3000:]}"
    page.screenshot(path=ARTIFACTS / "07-after-stops.png", full_page=True)


def test_another_browser_session_starts_from_an_empty_page(page, app_server):
    """Another session's tabs show nothing of mine. (On one's own machine the Gallery shows every picture kept
    there; on an exposed studio each browser sees its own: tests/test_browser_gallery.py.)"""
    open_tab(page, "Gallery", "#gallery-grid")
    page.locator("#gallery-grid img").first.wait_for()
    assert page.locator("#gallery-grid img").count() >= 3
    other = page.context.browser.new_context().new_page()
    other.goto(app_server.url)
    other.wait_for_selector("#txt2img-prompt textarea")
    assert other.input_value("#txt2img-info textarea") == ""
    assert other.locator("#txt2img-gallery img").count() == 0
    other.screenshot(path=ARTIFACTS / "08-another-session.png", full_page=True)
    other.context.close()


@pytest.fixture(scope="module")
def easel_picture(manager, tmp_path_factory):
    """A picture as Easel hands it out (256x256: large enough to carry the watermark)."""
    from pipelines.provenance import png_bytes
    from pipelines.request import GenerationRequest

    result = manager.generate(GenerationRequest(prompt="a harbour at night", steps=2, seed=4242, width=256, height=256))
    path = tmp_path_factory.mktemp("browser") / "easel.png"
    path.write_bytes(png_bytes(result, 0))
    return path


def test_png_info_reads_a_picture_and_sends_its_settings_to_text_to_image(page, easel_picture):
    open_tab(page, "PNG Info", "#png-info-image")
    upload(page, "#png-info-image", easel_picture,
           "(document.querySelector('#png-info-parameters textarea')?.value || '').includes('Seed: 4242')")
    page.get_by_text('"easel.generation"').first.wait_for()  # the record is shown too
    page.screenshot(path=ARTIFACTS / "09-png-info.png", full_page=True)
    page.click("#png-info-send-txt2img")
    # The Text to image tab opens: wait until it shows, so that the switch cannot land in the next test.
    page.locator("#txt2img-prompt textarea").wait_for(state="visible")
    page.wait_for_function("() => document.querySelector('#txt2img-prompt textarea').value === 'a harbour at night'")
    assert page.input_value("#txt2img-seed input") == "4242"
    assert page.input_value("#txt2img-width input[type=number]") == "256"


def test_hires_fix_in_text_to_image_and_its_settings_back_through_png_info(page, tmp_path):
    open_tab(page, "Text to image", "#txt2img-prompt textarea")
    page.fill("#txt2img-prompt textarea", "a castle on a hill")
    page.get_by_text("Hires. fix").first.click()
    page.locator("#txt2img-enable-hr input").check()
    page.locator("#txt2img-hr-upscaler input").click()
    page.get_by_role("option", name="tiny-realesr-compact").click()
    page.locator("#txt2img-hr-steps input[type=number]").fill("3")
    page.locator("#txt2img-hr-steps input[type=number]").press("Enter")
    for side, value in (("width", "96"), ("height", "64")):
        page.locator(f"#txt2img-{side} input[type=number]").fill(value)
        page.locator(f"#txt2img-{side} input[type=number]").press("Enter")
    page.locator("#txt2img-hr-size").get_by_text("from 96×64 to 192×128").wait_for()  # said before generating
    page.locator("#txt2img-width input[type=number]").fill("64")
    page.locator("#txt2img-width input[type=number]").press("Enter")
    page.locator("#txt2img-hr-size").get_by_text("from 64×64 to 128×128").wait_for()
    page.click("#txt2img-generate")
    info = wait_for_parameters(page, "txt2img", "Hires upscaler: tiny-realesr-compact")
    assert "Size: 64x64" in info and "Hires steps: 3" in info and "Denoising strength: 0.7" in info
    page.wait_for_function("() => [...document.querySelectorAll('#txt2img-gallery img')]"
                           ".some(img => img.naturalWidth === 128)")
    page.screenshot(path=ARTIFACTS / "13-hires-fix.png", full_page=True)
    # the picture's parameters bring the hires fix back: off first, then PNG Info turns it on again
    page.locator("#txt2img-enable-hr input").uncheck()
    picture = tmp_path / "hires.png"
    from pipelines.metadata import save_png
    from PIL import Image
    save_png(Image.new("RGB", (128, 128)), picture, info)
    open_tab(page, "PNG Info", "#png-info-image")
    upload(page, "#png-info-image", picture,
           "(document.querySelector('#png-info-parameters textarea')?.value || '').includes('Hires steps: 3')")
    page.click("#png-info-send-txt2img")
    page.locator("#txt2img-prompt textarea").wait_for(state="visible")
    page.wait_for_function("() => document.querySelector('#txt2img-enable-hr input').checked")
    assert page.input_value("#txt2img-hr-steps input[type=number]") == "3"
    assert page.input_value("#txt2img-hr-upscaler input") == "tiny-realesr-compact"
    page.locator("#txt2img-enable-hr input").uncheck()  # the tests after this one draw in one pass


def test_verify_says_a_picture_is_easels(page, easel_picture, photo):
    open_tab(page, "Verify", "#verify-image")
    upload(page, "#verify-image", easel_picture,
           "(document.querySelector('#verify-summary')?.innerText || '').includes('Made by Easel')")
    assert "AI-generated" in page.inner_text("#verify-summary")
    page.screenshot(path=ARTIFACTS / "10-verify.png", full_page=True)
    upload(page, "#verify-image", photo,
           "(document.querySelector('#verify-summary')?.innerText || '').includes('No Easel watermark')")


def test_click_a_lora_card_pick_an_embedding_and_generate_with_them(page):
    open_tab(page, "Text to image", "#txt2img-prompt textarea")
    page.fill("#txt2img-prompt textarea", "a (red:1.3) cat")
    page.fill("#txt2img-negative textarea", "")
    page.get_by_text("LoRA, embeddings, wildcards and styles").first.click()
    card = page.locator("#txt2img-loras").get_by_text("tiny-lora", exact=True)
    card.wait_for(state="visible")
    card.click()
    page.wait_for_function(
        "() => document.querySelector('#txt2img-prompt textarea').value === 'a (red:1.3) cat <lora:tiny-lora:1>'")
    page.locator("#txt2img-embedding-negative input").check()
    page.locator("#txt2img-embedding input").fill("tinyemb")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#txt2img-negative textarea').value === 'tinyemb'")
    page.screenshot(path=ARTIFACTS / "11-lora-cards.png", full_page=True)
    page.click("#txt2img-generate")
    info = wait_for_parameters(page, "txt2img", "Lora hashes")
    assert info.startswith("a (red:1.3) cat <lora:tiny-lora:1>")
    assert "TI hashes: \"tinyemb: " in info or "TI hashes: tinyemb: " in info
    page.screenshot(path=ARTIFACTS / "12-generated-with-lora.png", full_page=True)
    card.click()  # a second click takes the tag out again
    page.wait_for_function("() => document.querySelector('#txt2img-prompt textarea').value === 'a (red:1.3) cat'")


def test_a_wildcard_from_its_list_and_an_xyz_plot_from_its_panel(page):
    open_tab(page, "Text to image", "#txt2img-prompt textarea")
    page.fill("#txt2img-prompt textarea", "a {small|large} house")
    if not page.locator("#txt2img-wildcard").is_visible():
        page.get_by_text("LoRA, embeddings, wildcards and styles").first.click()
    page.locator("#txt2img-wildcard input").fill("colors")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('#txt2img-prompt textarea').value === 'a {small|large} house, __colors__'")
    page.get_by_text("X/Y/Z plot", exact=True).first.click()
    page.locator("#txt2img-x-type input").fill("Steps")
    page.keyboard.press("Enter")
    page.wait_for_function("() => (document.querySelector('#txt2img-x-values textarea')?.placeholder || '')"
                           ".includes('10-30')")  # the values box says what its values look like
    page.fill("#txt2img-x-values textarea", "2, 3")
    page.locator("#txt2img-y-type input").fill("Sampler")
    page.keyboard.press("Enter")
    page.wait_for_function("() => (document.querySelector('#txt2img-y-values textarea')?.placeholder || '')"
                           ".includes('Euler a')")
    page.fill("#txt2img-y-values textarea", "Euler a, DDIM")
    page.click("#txt2img-generate")
    info = wait_for_parameters(page, "txt2img", "Script: X/Y/Z plot")
    assert "X Type: Steps" in info and "Y Type: Sampler" in info, info
    # each cell's prompt drawn from the template, which the parameters keep on their own line
    drawn = info.split("\n")[0]
    assert drawn.split(", ")[1] in ("red", "green", "blue") and drawn.split(", ")[0] in ("a small house", "a large house")
    assert "\nTemplate: a {small|large} house, __colors__" in info
    page.wait_for_function("() => document.querySelectorAll('#txt2img-gallery .thumbnail-item').length === 5"
                           " || document.querySelectorAll('#txt2img-gallery img').length >= 5")
    page.screenshot(path=ARTIFACTS / "12c-wildcards-and-xyz-plot.png", full_page=True)
    for axis in ("x", "y"):  # the plot off again for the tests after this one
        page.locator(f"#txt2img-{axis}-type input").fill("Nothing")
        page.keyboard.press("Enter")
    page.get_by_text("X/Y/Z plot", exact=True).first.click()


def _chooser(page):
    """Pick a value in a dropdown by typing it, and wait until the dropdown shows its label."""
    def choose(selector: str, typed: str, shown: str):
        page.locator(f"{selector} input").fill(typed)
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => document.querySelector('{selector} input').value === {shown!r}")

    return choose


def test_the_sdxl_refiner_and_an_image_prompt_from_their_panels(page, tmp_path):
    from PIL import Image
    from skimage import data

    reference = tmp_path / "reference.png"
    Image.fromarray(data.astronaut()).resize((128, 128)).save(reference)
    choose = _chooser(page)
    open_tab(page, "Text to image", "#txt2img-prompt textarea")
    page.fill("#txt2img-prompt textarea", "a fox")
    choose("#txt2img-model", "tiny-sdxl", "SDXL · tiny-sdxl")
    page.locator("#txt2img-refiner").get_by_text("Refiner", exact=True).first.click()
    choose("#txt2img-refiner-checkpoint", "tiny-sdxl-refiner", "SDXL refiner · tiny-sdxl-refiner")
    page.locator("#txt2img-image-prompt").get_by_text("Image prompt (IP-Adapter)", exact=True).first.click()
    upload(page, "#txt2img-ip-image-1", reference, "document.querySelector('#txt2img-ip-image-1 img') !== null")
    page.locator("#txt2img-ip-mode-1").get_by_text("Style only", exact=True).click()
    page.click("#txt2img-generate")
    info = wait_for_parameters(page, "txt2img", "Refiner: tiny-sdxl-refiner")
    assert "Model: tiny-sdxl," in info and "Refiner switch at: 0.8" in info
    assert "IP-Adapter 0: \"Model: ip-adapter_tiny-sdxl, Weight: 1, Mode: style" in info
    page.screenshot(path=ARTIFACTS / "12d-refiner-and-image-prompt.png", full_page=True)
    page.locator("#txt2img-ip-image-1 button[aria-label='Remove Image']").first.click()
    page.wait_for_function("() => document.querySelector('#txt2img-ip-image-1 img') === null")
    page.locator("#txt2img-image-prompt").get_by_text("Image prompt (IP-Adapter)", exact=True).first.click()
    choose("#txt2img-refiner-checkpoint", "None", "None")  # as it was, for the tests after this one
    choose("#txt2img-model", "tiny-sd15", "SD 1.x · tiny-sd15")
    page.locator("#txt2img-refiner").get_by_text("Refiner", exact=True).first.click()


def test_a_flux_model_says_what_it_reads_and_paints_with_its_own_guidance(page):
    choose = _chooser(page)
    open_tab(page, "Text to image", "#txt2img-prompt textarea")
    page.fill("#txt2img-prompt textarea", "a (red:1.2) fox")
    choose("#txt2img-model", "tiny-flux", "FLUX.1 · tiny-flux")
    note = page.locator("#txt2img-model-note")
    note.get_by_text("FLUX.1 is a diffusion transformer", exact=False).wait_for()
    assert "no negative prompt" in note.inner_text()
    page.get_by_text("Guidance (Distilled CFG Scale)", exact=True).wait_for()  # Forge's name for its guidance
    assert page.locator("#txt2img-sampler input").input_value() == "Euler"
    page.locator("#txt2img-steps input[type=number]").fill("3")
    page.locator("#txt2img-steps input[type=number]").press("Enter")
    page.click("#txt2img-generate")
    info = wait_for_parameters(page, "txt2img", "Distilled CFG Scale: 3.5")
    assert "Sampler: Euler, CFG scale: 1, Distilled CFG Scale: 3.5" in info and "Model: tiny-flux," in info
    page.locator("#txt2img-status").get_by_text("weights, brackets and BREAK are not applied on FLUX.1",
                                                exact=False).wait_for()
    page.screenshot(path=ARTIFACTS / "12e-flux-model.png", full_page=True)
    choose("#txt2img-model", "tiny-sd15", "SD 1.x · tiny-sd15")  # as it was, for the tests after this one
    page.get_by_text("Guidance (CFG scale)", exact=True).first.wait_for()
    page.wait_for_function("() => !document.querySelector('#txt2img-model-note').innerText.trim()")


def test_fast_decoding_and_the_feature_cache_from_the_advanced_settings(page):
    choose = _chooser(page)
    open_tab(page, "Text to image", "#txt2img-prompt textarea")
    page.locator("#txt2img-advanced").get_by_text("Advanced").click()
    choose("#txt2img-decode", "fast", "fast")
    page.locator("#txt2img-feature_cache input[type=number]").fill("2")
    page.locator("#txt2img-feature_cache input[type=number]").press("Enter")
    page.fill("#txt2img-prompt textarea", "a lighthouse, decoded fast")
    page.click("#txt2img-generate")
    info = wait_for_parameters(page, "txt2img", "a lighthouse, decoded fast")
    assert "VAE Decoder: TAESD" in info and "Feature cache: 2" in info and "Precision: " in info
    page.screenshot(path=ARTIFACTS / "01e-fast-decode.png", full_page=True)
    choose("#txt2img-decode", "full", "full")  # as they were, for the tests after this one
    page.locator("#txt2img-feature_cache input[type=number]").fill("0")
    page.locator("#txt2img-feature_cache input[type=number]").press("Enter")
    page.locator("#txt2img-advanced").get_by_text("Advanced").click()


def test_extras_upscales_restores_the_face_and_filters_with_a_before_after_slider(page, tmp_path):
    from PIL import Image
    from skimage import data

    face = tmp_path / "face.png"
    Image.fromarray(data.astronaut()).resize((256, 256)).save(face)
    open_tab(page, "Extras", "#extras-image")
    upload(page, "#extras-image", face, "document.querySelector('#extras-image img') !== null")
    page.locator("#extras-upscaler input").click()
    page.get_by_role("option", name="Lanczos").click()  # the random ESRGAN paints the face away: none to restore
    page.locator("#extras-gfpgan input[type=number]").fill("1")
    page.locator("#extras-gfpgan input[type=number]").press("Enter")
    page.click("#extras-run")
    page.wait_for_function(
        "() => (document.querySelector('#extras-info textarea')?.value || '').includes('GFPGAN visibility: 1')")
    assert "Postprocess upscaler: Lanczos" in page.input_value("#extras-info textarea")
    assert page.locator("#extras-result img").count() == 2  # before and after, one over the other
    page.get_by_text("Filters", exact=True).click()
    page.locator("#extras-saturation input[type=number]").fill("0")  # the filters alone run again
    page.locator("#extras-saturation input[type=number]").press("Enter")
    page.wait_for_function(
        "() => (document.querySelector('#extras-info textarea')?.value || '').includes('Filters: saturation 0')")
    assert "GFPGAN visibility: 1" in page.input_value("#extras-info textarea")  # the face is not restored again
    page.screenshot(path=ARTIFACTS / "09-extras.png", full_page=True)


def test_tiling_freeu_and_pag_from_the_advanced_settings(page):
    open_tab(page, "Text to image", "#txt2img-generate")
    page.locator("#txt2img-advanced").get_by_text("Advanced").click()
    page.locator("#txt2img-tiling input").check()
    page.locator("#txt2img-freeu input").check()
    page.locator("#txt2img-pag_scale input[type=number]").fill("2")
    page.locator("#txt2img-pag_scale input[type=number]").press("Enter")
    page.fill("#txt2img-prompt textarea", "a seamless brick wall")
    page.click("#txt2img-generate")
    info = wait_for_parameters(page, "txt2img", "a seamless brick wall")
    assert "Tiling: True" in info and "FreeU: b1 1.5" in info and "PAG scale: 2" in info
    page.screenshot(path=ARTIFACTS / "01b-advanced.png", full_page=True)
    page.locator("#txt2img-variation").get_by_text("Variation seed").first.click()
    page.locator("#txt2img-subseed input").fill("77")
    page.locator("#txt2img-subseed_strength input[type=number]").fill("0.3")
    page.locator("#txt2img-subseed_strength input[type=number]").press("Enter")
    page.click("#txt2img-generate")
    info = wait_for_parameters(page, "txt2img", "Variation seed: 77")
    assert "Variation seed strength: 0.3" in info
    page.screenshot(path=ARTIFACTS / "01c-variation-seed.png", full_page=True)
    page.locator("#txt2img-subseed_strength input[type=number]").fill("0")
    page.locator("#txt2img-subseed_strength input[type=number]").press("Enter")
    page.locator("#txt2img-batch_count input[type=number]").fill("2")  # two batches, one after the other
    page.locator("#txt2img-batch_count input[type=number]").press("Enter")
    page.click("#txt2img-generate")
    page.wait_for_function("() => document.querySelector('#txt2img-status')?.innerText.includes('batch 2 of 2')")
    assert page.locator("#txt2img-gallery .thumbnail-item").count() == 2 or \
        page.locator("#txt2img-gallery img").count() >= 2
    page.screenshot(path=ARTIFACTS / "01d-batch-count.png", full_page=True)
    page.locator("#txt2img-batch_count input[type=number]").fill("1")
    page.locator("#txt2img-batch_count input[type=number]").press("Enter")
    for name in ("tiling", "freeu"):  # off again, for the tests after this one
        page.locator(f"#txt2img-{name} input").uncheck()
    page.locator("#txt2img-pag_scale input[type=number]").fill("0")
    page.locator("#txt2img-pag_scale input[type=number]").press("Enter")
