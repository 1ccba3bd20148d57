"""Strangers on a shared link: what they can reach, what a login closes, what the exposed defaults switch off,
and what never reaches the logs."""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.app_server import ROOT, AppServer
from tests.live_app import live_app

SECRET_PROMPT = "zebra-sapphire-7731"  # a prompt that must never show up in a log


def fetch(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    """(status, body) of a request, without following redirects, whatever the status."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=30) as response:
            return response.status, response.read(200_000)
    except urllib.error.HTTPError as error:
        return error.code, error.read(200_000)


# --- files ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_picture(client, app_server):
    """Generate once, so the outputs folder and Gradio's cache hold a picture."""
    client.predict(prompt="a saved picture", steps=2, seed=123, api_name="/txt2img")
    outputs = Path(app_server.log.parent)
    return next(p for p in outputs.rglob("*-123.png") if "downloads" not in p.parts)


def file_targets(saved_picture: Path, tiny_dir: Path, tmp_path_factory) -> dict[str, str]:
    link = tmp_path_factory.mktemp("links") / "innocent.png"
    link.symlink_to("/etc/passwd")
    return {
        "/etc/passwd": "/etc/passwd",
        "relative traversal": "../../../../../../etc/passwd",
        "URL-encoded traversal": urllib.parse.quote("../../../../../../etc/passwd", safe=""),
        "double-encoded traversal": urllib.parse.quote(urllib.parse.quote("../../../../etc/passwd", safe=""), safe=""),
        "traversal out of Gradio's cache": "/tmp/gradio/../../etc/passwd",
        "encoded traversal out of the cache": "/tmp/gradio/%2e%2e/%2e%2e/etc/passwd",
        "app source, absolute": str(ROOT / "app.py"),
        "app source, relative": "app.py",
        "engine source": "pipelines/loader.py",
        "requirements": str(ROOT / "requirements.txt"),
        "model library settings": str(tiny_dir / "models.yaml"),
        "model weights": str(next(tiny_dir.rglob("*.safetensors"))),
        "symlink to /etc/passwd": str(link),
        "a saved output by its path": str(saved_picture),
        "home directory": os.path.expanduser("~/.bashrc"),
        "proc environment": "/proc/self/environ",
    }


@pytest.fixture(scope="module")
def targets(saved_picture, tiny_dir, tmp_path_factory):
    return file_targets(saved_picture, tiny_dir, tmp_path_factory)


FILE_ROUTES = ["gradio_api/file={}", "gradio_api/file/{}", "file={}", "static/{}", "assets/{}", "svelte/{}",
               "gradio_api/proxy={}"]


@pytest.mark.parametrize("route", FILE_ROUTES)
def test_file_routes_refuse_everything_but_the_pictures_they_handed_out(app_server, targets, route):
    served = {}
    for name, target in targets.items():
        status, body = fetch(app_server.url + route.format(target))
        if status == 200 and (b"root:" in body or b"import" in body or b"\x89PNG" in body or b"easel" in body.lower()):
            served[name] = status
    assert served == {}


def test_the_pictures_handed_to_a_user_are_served_from_gradio_s_cache(client, app_server):
    gallery, _, _ = Client(app_server.url, verbose=False, download_files=False).predict(
        prompt="fetch me", steps=2, api_name="/txt2img")
    url = gallery[0]["image"]["url"]
    assert "/gradio_api/file=" in url and "/outputs" not in url
    status, body = fetch(url)
    assert status == 200 and body.startswith(b"\x89PNG")


def test_a_client_cannot_hand_the_server_a_path_it_did_not_upload(app_server, client):
    """A hand-written client names /etc/passwd as its 'uploaded' picture: Gradio refuses it."""
    parameters = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/img2img"]["parameters"]
    data = [p.get("parameter_default") for p in parameters]
    data[[p["parameter_name"] for p in parameters].index("image")] = {
        "path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}
    status, body = fetch(app_server.url + "gradio_api/call/img2img", "POST", json.dumps({"data": data}).encode(),
                         {"Content-Type": "application/json"})
    event_id = json.loads(body)["event_id"]
    _, stream = fetch(f"{app_server.url}gradio_api/call/img2img/{event_id}")
    assert b"event: error" in stream and b"root:" not in stream


def test_uploads_over_the_size_cap_are_refused(app_server):
    boundary = "easel-boundary"
    big = b"\0" * (21 * 2**20)  # over the 20 MB cap
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + big + f"\r\n--{boundary}--\r\n".encode()
    status, answer = fetch(app_server.url + "gradio_api/upload", "POST", body,
                           {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 413, answer[:200]


# --- a login closes every route -------------------------------------------------------------------

PUBLIC = {  # the login page and the static front end: no user data, no computation
    "/", "/login", "/login/", "/logout", "/favicon.ico", "/theme.css", "/robots.txt", "/manifest.json", "/pwa_icon",
    "/pwa_icon/{size}", "/static/{path:path}", "/assets/{path:path}", "/svelte/{path:path}",
    "/gradio_api/theme.css", "/gradio_api/login_check", "/gradio_api/login_check/", "/gradio_api/startup-events",
    "/gradio_api/app_id", "/gradio_api/app_id/",
}
REFUSED = (401, 403)


def all_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) the server answers, walking included routers."""
    found = []

    def walk(routes, prefix=""):
        for route in routes:
            if hasattr(route, "path"):
                found.extend((method, prefix + route.path) for method in sorted(route.methods or []) if method != "HEAD")
            else:
                walk(route.original_router.routes, prefix + (route.include_context.prefix or ""))

    walk(app.routes)
    return found


def concrete(path: str) -> str:
    values = {"api_name": "txt2img", "event_id": "0" * 32, "session_hash": "abcdef", "path": "app.py",
              "path_or_url": "/etc/passwd", "url_path": "https://example.com/x.png", "size": "192", "key": "x"}
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: values.get(m.group(1), "x"), path)


@pytest.fixture(scope="module")
def guarded(tiny_dir, tmp_path_factory):
    with live_app(tiny_dir, tmp_path_factory.mktemp("guarded-outputs"), auth=[("ann", "s3cret-pass")]) as studio:
        yield studio


def test_with_a_login_every_route_refuses_a_stranger(guarded):
    routes = all_routes(guarded.demo.app)
    assert len(routes) > 40  # the walk found Gradio's API routes, not only the page
    assert {"/sdapi/v1/txt2img", "/controlnet/detect"} <= {path for _, path in routes}  # and the A1111 API's
    body = json.dumps({"data": [SECRET_PROMPT], "fn_index": 0, "session_hash": "abcdef", "event_data": None,
                       "trigger_id": None}).encode()
    answered = {}
    for method, path in routes:
        if path in PUBLIC:
            continue
        status, answer = fetch(guarded.url.rstrip("/") + concrete(path), method, body if method == "POST" else None,
                               {"Content-Type": "application/json"})
        if status not in REFUSED:
            answered[f"{method} {path}"] = (status, answer[:120])
    assert answered == {}


def test_with_a_login_the_page_shows_only_the_login_form_and_monitoring_needs_its_key(guarded):
    status, page = fetch(guarded.url)
    assert status == 200 and b"auth_required" in page  # the login form
    assert b"txt2img" not in page and b"tiny-sd15" not in page and b"Generate" not in page
    assert fetch(guarded.url + "monitoring")[0] in REFUSED + (404,)
    assert fetch(guarded.url + "monitoring/summary")[0] in REFUSED + (404,)


def test_with_a_login_the_user_gets_in(guarded, tmp_path):
    with pytest.raises(Exception):
        Client(guarded.url, verbose=False, auth=("ann", "wrong"))
    client = Client(guarded.url, verbose=False, auth=("ann", "s3cret-pass"), download_files=str(tmp_path))
    assert client.predict(prompt="logged in", steps=2, api_name="/txt2img")[1].startswith("logged in")


def test_the_login_this_studio_reads_is_the_one_this_gradio_writes(guarded):
    """server/access.py reads Gradio 6's login: the cookie access-token[-unsecure]-<cookie_id> and `app.tokens`.
    requirements.txt keeps Gradio's major version; this catches a release that changes either."""
    import httpx

    with httpx.Client(base_url=guarded.url, timeout=30) as http:
        assert http.post("login", data={"username": "ann", "password": "s3cret-pass"}).status_code == 200
        app = guarded.demo.app
        names = [name for name in http.cookies.keys() if name.startswith("access-token")]
        assert names and all(name.endswith(app.cookie_id) for name in names)
        assert any(app.tokens.get(http.cookies[name]) == "ann" for name in names)
        assert http.get("sdapi/v1/sd-models").status_code == 200  # the page's login opens the API too


# --- exposed defaults, and logs --------------------------------------------------------------------


@pytest.fixture(scope="module")
def exposed(tiny_dir, tmp_path_factory):
    """`--host 0.0.0.0` without --auth: reachable by the network, as on a share link."""
    server = AppServer(tiny_dir, tmp_path_factory.mktemp("exposed-outputs"), "--host", "0.0.0.0")
    yield server
    server.stop()


def test_exposed_without_a_login_warns_the_operator(exposed):
    assert "has no login" in exposed.log.read_text() and "--auth USER:PASS" in exposed.log.read_text()


def test_exposed_the_api_is_reachable_only_through_the_queue(exposed, tmp_path):
    body = json.dumps({"data": ["a"]}).encode()
    for route in ("gradio_api/run/txt2img", "gradio_api/api/txt2img"):  # these skip the queue
        status, _ = fetch(exposed.url + route, "POST", body, {"Content-Type": "application/json"})
        assert status in (403, 404, 405), route
    client = Client(exposed.url, verbose=False, download_files=str(tmp_path))  # the queue, as the page uses it
    assert client.predict(prompt=SECRET_PROMPT, steps=2, api_name="/txt2img")[1].startswith(SECRET_PROMPT)


def test_exposed_user_chosen_model_paths_are_refused(exposed, tiny_dir, tmp_path):
    client = Client(exposed.url, verbose=False, download_files=str(tmp_path))
    with pytest.raises(AppError, match="model: "):
        client.predict(prompt="a", model=str(tiny_dir / "sd15-tiny"), api_name="/txt2img")
    with pytest.raises(AppError, match="model: "):
        client.predict(prompt="a", model="someone/any-repo", api_name="/txt2img")


def test_prompts_are_not_written_to_the_logs(exposed, tmp_path):
    client = Client(exposed.url, verbose=False, download_files=str(tmp_path))
    client.predict(prompt=SECRET_PROMPT, negative_prompt=SECRET_PROMPT, steps=2, api_name="/txt2img")
    with pytest.raises(AppError):
        client.predict(prompt=SECRET_PROMPT, width=100, api_name="/txt2img")
    log = exposed.log.read_text()
    assert "Running on" in log and SECRET_PROMPT not in log


def test_local_defaults_are_not_exposed_and_the_caps_come_from_the_flags():
    from server.app_settings import parse

    local = parse([])
    assert not local.exposed and local.engine.allow_custom_models
    for flags in (["--share"], ["--host", "0.0.0.0"], ["--host", "192.168.1.20"]):
        settings = parse(flags)
        assert settings.exposed and not settings.engine.allow_custom_models and not settings.engine.allow_pickle
    capped = parse(["--max-steps", "30", "--max-batch", "2", "--max-side", "768", "--queue-size", "5",
                    "--max-sessions", "50"])
    limits = capped.engine.limits
    assert (limits.max_steps, limits.max_batch, limits.max_side, capped.queue_size) == (30, 2, 768, 5)
    from app import launch_options

    assert launch_options(capped)["state_session_capacity"] == 50  # sessions kept in memory: bounded


def test_the_watermark_can_be_turned_off_only_on_ones_own_machine(caplog):
    from server.app_settings import parse

    assert parse([]).engine.watermark and not parse(["--no-watermark"]).engine.watermark
    exposed = parse(["--no-watermark", "--host", "0.0.0.0"])
    assert exposed.engine.watermark and "--no-watermark is ignored" in caplog.text
    assert [parse(flags).engine.compile for flags in (["--compile"], [], ["--no-compile"])] == ["on", "auto", "off"]
    assert parse([]).engine.pin_memory and not parse(["--no-pin-memory"]).engine.pin_memory
