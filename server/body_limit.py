"""A cap on the size of an API request's body: pictures come inline as base64, and a stranger could send gigabytes.

The pages' uploads are capped by Gradio (--max-upload); the A1111 routes read JSON bodies whole, so this
middleware refuses, with 413, a body larger than the cap, whether it announces its length or streams it.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

API_PREFIXES = ("/sdapi/", "/controlnet/")


class BodyLimit:
    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIXES):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        # Read the body here, up to the cap, then hand it on whole; later reads (a disconnect) pass through.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left before sending it all
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body"):
                break
        whole = {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        async def replay():
            nonlocal whole
            if whole is not None:
                message, whole = whole, None
                return message
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope, receive, send):
        answer = JSONResponse({"error": "PayloadTooLarge", "detail": f"request body over {self.max_bytes:,} bytes",
                               "body": "", "errors": ""}, 413)
        await answer(scope, receive, send)
