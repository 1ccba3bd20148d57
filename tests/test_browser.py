"""A person in a real browser: types a prompt, generates, switches tabs, paints a mask and inpaints, previews a
ControlNet map. Screenshots are kept in test-artifacts/ for a human to look at."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

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


def test_type_a_prompt_and_generate(page):
    page.fill("#txt2img-prompt textarea", "a lighthouse at dusk")
    page.click("#txt2img-generate")
    info = wait_for_parameters(page, "txt2img", "Steps:")
    assert info.startswith("a lighthouse at dusk")
    assert page.locator("#txt2img-gallery img").count() >= 1
    assert "denoise" in page.inner_text("#txt2img-status")
    page.screenshot(path=ARTIFACTS / "01-text-to-image.png", full_page=True)


def test_paint_a_mask_and_inpaint(page, photo):
    page.get_by_role("tab", name="Inpaint").click()
    page.locator("#inpaint-editor input[type=file]").set_input_files(photo)
    canvas = page.locator("#inpaint-editor canvas").last
    canvas.wait_for()
    page.wait_for_function("() => document.querySelector('#inpaint-width input[type=number]').value === '128'")
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


def test_preview_a_controlnet_map_then_generate(page, photo):
    page.get_by_role("tab", name="ControlNet").click()
    page.locator("#controlnet-image input[type=file]").set_input_files(photo)
    page.wait_for_timeout(500)
    page.click("#controlnet-preview")
    page.locator("#controlnet-map img").wait_for()
    page.fill("#controlnet-prompt textarea", "a robot")
    page.click("#controlnet-generate")
    info = wait_for_parameters(page, "controlnet", "ControlNet 0")
    assert "Module: canny" in info
    page.screenshot(path=ARTIFACTS / "04-controlnet.png", full_page=True)


def test_the_models_panel_shows_what_is_loaded(page):
    page.get_by_role("tab", name="Models").click()
    page.get_by_role("button", name="Refresh").click()
    page.get_by_text("tiny-sd15-inpaint").first.wait_for()
    assert "unet" in page.inner_text("#models-report")
    page.screenshot(path=ARTIFACTS / "05-models.png", full_page=True)


def test_send_a_picture_and_its_settings_to_image_to_image(page):
    page.get_by_role("tab", name="Text to image").click()
    page.locator("#txt2img-gallery img").first.click()  # select the picture just made
    page.click("#txt2img-send-img2img")
    page.locator("#img2img-image img").wait_for()
    assert page.input_value("#img2img-prompt textarea") == "a lighthouse at dusk"
    page.screenshot(path=ARTIFACTS / "06-sent-to-img2img.png", full_page=True)
