"""Refuse the A1111 routes to web pages of other sites.

A browser sends the studio's login cookie with any request to it, even one a page of another site makes
it send; such a request carries that site's Origin. Programs that use the API (webuiapi, plugins, bots)
send no Origin, and the studio's own pages send the studio's. So a request to /sdapi/ or /controlnet/
whose Origin names another address is refused: a stranger's page cannot interrupt, skip or unload.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.responses import JSONResponse

from .body_limit import API_PREFIXES


class SameOrigin:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith(API_PREFIXES):
            headers = dict(scope.get("headers") or [])
            origin = headers.get(b"origin", b"").decode("latin-1")
            host = headers.get(b"host", b"").decode("latin-1")
            if origin and origin != "null" and urlsplit(origin).netloc != host:
                answer = JSONResponse({"error": "Forbidden", "detail": "requests from other sites' pages are refused",
                                       "body": "", "errors": ""}, 403)
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)
