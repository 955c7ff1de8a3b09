"""The app's answers to what went wrong: 422 with field errors, 405 naming the allowed methods,
503 when the database or the task queue cannot be reached. Anything else is a 500, answered and logged once by
RequestContextMiddleware (service/middleware.py)."""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from service.db import is_unreachable

log = logging.getLogger("service")

# A JSON string may escape a UTF-16 surrogate on its own ("\ud800"): Python decodes it, UTF-8
# cannot encode it back.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
RETRY_AFTER_SECONDS = 5


def _encodable(value: Any) -> Any:
    """``value`` as JSON can carry it: lone surrogates as U+FFFD, bytes decoded, NaN and infinities as text."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {_encodable(key): _encodable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encodable(item) for item in value]
    return value


async def validation_failed(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 (``detail``: a list of field errors), rendered whatever the input echoed in it."""
    return JSONResponse({"detail": jsonable_encoder(_encodable(exc.errors()))}, status_code=422)


async def method_not_allowed(request: Request, exc: HTTPException) -> JSONResponse:
    """405 whose ``Allow`` names every method of the path; Starlette's names only the first route's."""
    allowed = {
        method
        for route in request.app.router.routes
        if route.matches(request.scope)[0] is not Match.NONE
        for method in getattr(route, "methods", None) or ()
    }
    headers = {"Allow": ", ".join(sorted(allowed))}
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    if not is_unreachable(exc):
        raise exc  # a failed statement is a bug, not an outage: a 500, logged with its traceback
    # The class name is enough to diagnose; the message may quote the DSN or SQL.
    log.error("database unavailable", extra={"error": type(exc).__name__, "path": request.url.path})
    return JSONResponse(
        {"detail": "database unavailable"}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


async def queue_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """503 for a QueueUnavailableError: Redis did not take a task, nothing was created (the job's row rolled back)."""
    # str(exc) is the broker error's class name only: the broker's own message may quote its URL.
    log.error("task queue unavailable", extra={"error": str(exc), "path": request.url.path})
    return JSONResponse(
        {"detail": "task queue unavailable"}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )
