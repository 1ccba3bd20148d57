"""With a login set, every route but the login page and the static front end asks for it.

Gradio checks the login on its page, API, queue and file routes, but a few of its routes answer
anyone (the heartbeat that keeps a session open, cancel, streaming inputs, the run-history page,
the route schema). Behind `--auth` a stranger should get nothing but the login form, so this
middleware refuses every other request that carries no valid login cookie, and takes out of the
login page the description of the API (model names, parameters) that Gradio puts in it.
"""

from __future__ import annotations

import json
import re

from starlette.requests import Request

# The login form and the files the browser needs to draw it: no user data, no computation.
PUBLIC_PATHS = {
    "/", "/login", "/login/", "/logout", "/favicon.ico", "/theme.css", "/robots.txt", "/manifest.json", "/pwa_icon",
    "/gradio_api/theme.css", "/gradio_api/login_check", "/gradio_api/login_check/", "/gradio_api/startup-events",
    "/gradio_api/app_id", "/gradio_api/app_id/",
}
PUBLIC_PREFIXES = ("/static/", "/assets/", "/svelte/", "/pwa_icon/")


class LoginRequired:
    """ASGI middleware for Gradio's app; `scope["app"]` is that app, which holds the login tokens."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and not _public(scope["path"]) and not _logged_in(scope):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            body = json.dumps({"detail": "Not authenticated: log in first"}).encode()
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
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


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _logged_in(scope) -> bool:
    app = scope.get("app")
    if app is None or not getattr(app, "auth", None):  # no login configured: nothing to enforce
        return True
    cookies = Request(scope).cookies
    token = cookies.get(f"access-token-{app.cookie_id}") or cookies.get(f"access-token-unsecure-{app.cookie_id}")
    return app.tokens.get(token) is not None
