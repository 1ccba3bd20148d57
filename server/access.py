"""With a login set, every route but the login page and the static front end asks for it.

Gradio checks the login on its page, API, queue and file routes, but a few of its routes answer
anyone (the heartbeat that keeps a session open, cancel, streaming inputs, the run-history page,
the route schema). Behind `--auth` a stranger should get nothing but the login form, so this
middleware refuses every other request that carries no valid login cookie, and takes out of the
login page the description of the API (model names, parameters) that Gradio puts in it.

The AUTOMATIC1111-compatible routes (/sdapi/, /controlnet/) are called by programs, not browsers: they
also take HTTP Basic credentials (the same USER:PASS pairs), as A1111 clients send them, and refuse
without either with a 401 that asks for Basic, in A1111's error shape.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re

from starlette.requests import Request
from starlette.responses import JSONResponse

# The login form and the files the browser needs to draw it: no user data, no computation.
PUBLIC_PATHS = {
    "/", "/login", "/login/", "/logout", "/favicon.ico", "/theme.css", "/robots.txt", "/manifest.json", "/pwa_icon",
    "/gradio_api/theme.css", "/gradio_api/login_check", "/gradio_api/login_check/", "/gradio_api/startup-events",
    "/gradio_api/app_id", "/gradio_api/app_id/",
}
PUBLIC_PREFIXES = ("/static/", "/assets/", "/svelte/", "/pwa_icon/")
BASIC_AUTH_PREFIXES = ("/sdapi/", "/controlnet/")  # the AUTOMATIC1111-compatible API


class LoginRequired:
    """ASGI middleware for Gradio's app; `scope["app"]` is that app, which holds the login tokens."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith(BASIC_AUTH_PREFIXES):
            if _logged_in(scope) or _basic_credentials_valid(scope):
                await self.app(scope, receive, send)
            else:
                await _ask_for_basic_credentials(scope, receive, send)
            return
        if scope["type"] in ("http", "websocket") and not _public(scope["path"]) and not _logged_in(scope):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await JSONResponse({"detail": "Not authenticated: log in first"}, 401)(scope, receive, send)
            return
        if scope["type"] == "http" and scope["path"] == "/" and not _logged_in(scope):
            await self.app(scope, receive, _without_api_description(send))
            return
        await self.app(scope, receive, send)


API_DESCRIPTION = re.compile(rb"window\.gradio_api_info = .*?;</script>", re.DOTALL)


def _without_api_description(send):
    """Hold the login page until its last chunk, then send it without the API description."""
    start, chunks = {}, []

    async def wrapped(message):
        if message["type"] == "http.response.start":
            start.update(message)
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = API_DESCRIPTION.sub(b"window.gradio_api_info = null;</script>", b"".join(chunks))
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await send({**start, "headers": headers + [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return wrapped


def user_of(scope) -> str | None:
    """The signed-in user of a request, by its login cookie or its Basic credentials; None without --auth."""
    app = scope.get("app")
    if app is None or not getattr(app, "auth", None):
        return None
    cookies = Request(scope).cookies
    token = cookies.get(f"access-token-{app.cookie_id}") or cookies.get(f"access-token-unsecure-{app.cookie_id}")
    user = app.tokens.get(token)
    if user:
        return user
    return _basic_credentials(scope)[0] if _basic_credentials_valid(scope) else None


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _logged_in(scope) -> bool:
    app = scope.get("app")
    if app is None or not getattr(app, "auth", None):  # no login configured: nothing to enforce
        return True
    cookies = Request(scope).cookies
    token = cookies.get(f"access-token-{app.cookie_id}") or cookies.get(f"access-token-unsecure-{app.cookie_id}")
    return app.tokens.get(token) is not None


def _basic_credentials_valid(scope) -> bool:
    app = scope.get("app")
    accounts = getattr(app, "auth", None)
    if not accounts:
        return True
    user, password = _basic_credentials(scope)
    if user is None:
        return False
    if callable(accounts):
        return bool(accounts(user, password))
    expected = accounts.get(user)
    # compare_digest: how long the check takes does not tell how much of the password was right
    return expected is not None and hmac.compare_digest(expected.encode(), password.encode())


def _basic_credentials(scope) -> tuple[str | None, str | None]:
    header = Request(scope).headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None, None
    return (user, password) if sep else (None, None)


async def _ask_for_basic_credentials(scope, receive, send) -> None:
    given = _basic_credentials(scope)[0] is not None
    detail = "Incorrect username or password" if given else "Not authenticated"
    answer = JSONResponse({"error": "HTTPException", "detail": detail, "body": "", "errors": ""}, 401,
                          headers={"www-authenticate": 'Basic realm="Easel"'})
    await answer(scope, receive, send)
