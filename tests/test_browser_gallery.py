"""The gallery as a user lives with it, in a real browser: pictures found again after the studio restarts,
searched by the words of their prompt; on an exposed studio another browser sees none of mine. And the page at
a phone's width and in dark mode. Screenshots are kept in test-artifacts/."""

from __future__ import annotations

import pytest

from tests.app_server import AppServer
from tests.test_browser import ARTIFACTS, CHROMIUM, open_tab, wait_for_parameters

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chromium
        chromium.close()


def new_page(browser, url, **options):
    page = browser.new_page(viewport=options.pop("viewport", {"width": 1400, "height": 1100}), **options)
    page.set_default_timeout(120_000)
    page.goto(url)
    page.wait_for_selector("#txt2img-prompt textarea")
    return page


def generate_with_ctrl_enter(page, prompt: str, seed: int) -> str:
    open_tab(page, "Text to image", "#txt2img-prompt textarea")
    page.fill("#txt2img-prompt textarea", prompt)
    page.fill("#txt2img-steps input[type=number]", "2")
    page.fill("#txt2img-seed input", str(seed))
    page.locator("#txt2img-prompt textarea").press("Control+Enter")  # the shortcut, not the button
    return wait_for_parameters(page, "txt2img", f"Seed: {seed}")


def search_gallery(page, words: str) -> str:
    open_tab(page, "Gallery", "#gallery-search textarea, #gallery-search input")
    box = page.locator("#gallery-search textarea, #gallery-search input").first
    box.fill(words)
    box.press("Enter")
    return page.locator("#gallery-summary").inner_text()


def test_the_gallery_outlives_a_restart_and_stays_private_on_an_exposed_studio(browser, tiny_dir, tmp_path):
    outputs = tmp_path / "outputs"
    local = AppServer(tiny_dir, outputs)
    try:
        mine = new_page(browser, local.url)
        generate_with_ctrl_enter(mine, "a red lighthouse on a cliff", 4242)
        generate_with_ctrl_enter(mine, "a green forest", 4243)
        cookies = mine.context.cookies()
        mine.close()
    finally:
        local.stop()

    # the same outputs folder, now exposed to the network: each browser sees its own pictures only
    exposed = AppServer(tiny_dir, outputs, "--host", "0.0.0.0")
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 1100})
        context.add_cookies(cookies)  # the same browser as before the restart
        mine = context.new_page()
        mine.set_default_timeout(120_000)
        mine.goto(exposed.url)
        mine.wait_for_selector("#txt2img-prompt textarea")
        search_gallery(mine, "lighthouse")
        mine.wait_for_function("() => document.querySelector('#gallery-summary')?.innerText.startsWith('1 picture')")
        mine.locator("#gallery-grid img").first.click()
        mine.wait_for_function(
            "() => (document.querySelector('#gallery-parameters textarea')?.value || '').includes('Seed: 4242')")
        mine.screenshot(path=ARTIFACTS / "20-gallery-after-restart.png", full_page=True)

        stranger = new_page(browser, exposed.url)  # another browser: no cookie of mine
        search_gallery(stranger, "")
        stranger.wait_for_function("() => document.querySelector('#gallery-summary')?.innerText.startsWith('0 pictures')")
        assert stranger.locator("#gallery-grid img").count() == 0
        stranger.screenshot(path=ARTIFACTS / "21-gallery-of-a-stranger.png", full_page=True)
    finally:
        exposed.stop()


def test_the_page_at_a_phone_width_and_in_dark_mode(browser, app_server):
    phone = new_page(browser, app_server.url + "?__theme=dark", viewport={"width": 390, "height": 844})
    assert phone.evaluate("() => document.body.classList.contains('dark')")
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    for tab in ("Image to image", "Inpaint", "ControlNet", "Gallery"):  # no tab hides behind a menu
        assert phone.get_by_role("tab", name=tab).is_visible()
    generate = phone.locator("#txt2img-generate")
    assert generate.is_visible() and generate.bounding_box()["y"] < 844  # Generate on the first screen
    phone.screenshot(path=ARTIFACTS / "22-phone-dark.png", full_page=True)
    banner = phone.locator("#demo-banner")
    colour = banner.evaluate("element => getComputedStyle(element).backgroundColor")
    assert colour != "rgb(255, 247, 224)"  # the banner's dark variant, not the light one
    desktop = new_page(browser, app_server.url + "?__theme=dark")
    desktop.screenshot(path=ARTIFACTS / "23-desktop-dark.png", full_page=True)


def test_ctrl_up_weights_the_word_at_the_caret_as_a1111_does(browser, app_server):
    page = new_page(browser, app_server.url)
    box = page.locator("#txt2img-prompt textarea")
    box.fill("a red fox")
    box.evaluate("element => element.setSelectionRange(3, 3)")  # the caret in "red"
    box.press("Control+ArrowUp")
    assert box.input_value() == "a (red:1.1) fox"
    box.press("Control+ArrowUp")
    assert box.input_value() == "a (red:1.2) fox"
    box.press("Control+ArrowDown")
    box.press("Control+ArrowDown")
    assert box.input_value() == "a red fox"  # back at 1.0, the brackets go
    box.fill("<lora:tiny-lora:0.8>")
    box.evaluate("element => element.setSelectionRange(8, 8)")
    box.press("Control+ArrowDown")
    assert box.input_value() == "<lora:tiny-lora:0.75>"


def test_a_seed_out_of_range_is_refused_in_the_fields_words_and_the_picture_stays(browser, app_server):
    page = new_page(browser, app_server.url)
    generate_with_ctrl_enter(page, "a quiet harbour", 31)
    page.fill("#txt2img-seed input", "5000000000")
    page.click("#txt2img-generate")
    page.get_by_text("Seed (-1: random): must be from -1 to 4294967295, got 5000000000").first.wait_for()
    assert page.locator("#txt2img-gallery img").count() == 1  # the last picture is still there
    assert "Seed: 31" in page.input_value("#txt2img-info textarea")
    page.locator("#txt2img-generate").wait_for()  # Generate is back, ready for the corrected value
    page.screenshot(path=ARTIFACTS / "24-seed-out-of-range.png")


def log_in(browser, url: str, user: str, password: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.set_default_timeout(120_000)
    page.goto(url)
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()
    page.wait_for_selector("#txt2img-prompt textarea")
    return page


def test_with_logins_each_user_sees_only_their_own_pictures(browser, tiny_dir, tmp_path):
    server = AppServer(tiny_dir, tmp_path / "outputs", "--auth", "ada:first-pass,bob:second-pass")
    try:
        ada = log_in(browser, server.url, "ada", "first-pass")
        generate_with_ctrl_enter(ada, "a blue boat", 5151)
        search_gallery(ada, "boat")
        ada.wait_for_function("() => document.querySelector('#gallery-summary')?.innerText.startsWith('1 picture')")
        bob = log_in(browser, server.url, "bob", "second-pass")
        search_gallery(bob, "boat")
        bob.wait_for_function("() => document.querySelector('#gallery-summary')?.innerText.startsWith('0 pictures')")
        bob.screenshot(path=ARTIFACTS / "25-gallery-of-another-user.png", full_page=True)
    finally:
        server.stop()
