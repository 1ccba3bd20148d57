"""Errors as A1111 answers them: `{"error", "detail", "body", "errors"}` with a status, never a stack trace.

A bad value (the engine's InvalidRequest, named by the client's field) is a 422; a full queue a 503;
a model that cannot load, or a run out of memory, a 500 whose text says what to do. Anything
unexpected is logged here in full and summarised to the client; the server keeps serving. Type
errors in the JSON itself keep FastAPI's own 422 (`{"detail": [{"loc", "msg", "type"}]}`), as in A1111.
"""

from __future__ import annotations

import logging
import time

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from pipelines import InvalidRequest, ModelLoadError, OutOfMemory

log = logging.getLogger(__name__)


def envelope(status: int, error: str, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, "body": "", "errors": detail}, status_code=status,
                        headers=headers)


def error_response(error: Exception) -> JSONResponse:
    if isinstance(error, InvalidRequest):
        return envelope(422, "InvalidRequest", str(error))
    if isinstance(error, (ModelLoadError, OutOfMemory)):
        return envelope(500, type(error).__name__, str(error))
    if isinstance(error, HTTPException):
        return envelope(error.status_code, "HTTPException", str(error.detail), error.headers)
    status = getattr(error, "status", None)
    if isinstance(status, int):  # the API's own errors (a full queue)
        return envelope(status, type(error).__name__, str(error))
    log.error("A1111 API request failed", exc_info=error)
    return envelope(500, type(error).__name__, f"{type(error).__name__}: {error}")


def message_of(error: InvalidRequest) -> str:
    """An InvalidRequest's message without its field name."""
    text, prefix = str(error), f"{error.field}: "
    return text[len(prefix):] if text.startswith(prefix) else text


class A1111Route(APIRoute):
    """A route that answers every error in A1111's envelope and times itself (A1111's X-Process-Time header)."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def answer(request):
            started = time.perf_counter()
            try:
                response = await handler(request)
            except RequestValidationError:
                raise  # FastAPI's own 422, as A1111 gives it
            except Exception as error:  # noqa: BLE001 - every failure becomes an answer, never a crash
                response = error_response(error)
            response.headers["X-Process-Time"] = f"{time.perf_counter() - started:.4f}"
            return response

        return answer
