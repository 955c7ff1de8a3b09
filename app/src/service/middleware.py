"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware on the hot path)."""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import metrics
from service.logs import request_id_var

access_log = logging.getLogger("service.access")
error_log = logging.getLogger("service")

_INTERNAL_ERROR_BODY = b'{"detail":"internal server error"}'

# Accept a caller's request id only if it is short and harmless in a log line.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


# (method, route, status) -> labelled children. Bounded: route templates and
# status codes are finite, and an unmatched path is a single "unmatched" label;
# methods are capped so arbitrary verbs cannot grow it without bound.
_METRIC_CHILDREN: dict[tuple[str, str, int], tuple[Any, Any]] = {}
_METRIC_CHILDREN_MAX = 4096


def _request_metrics(method: str, route: str, status: int) -> tuple[Any, Any]:
    key = (method, route, status)
    children = _METRIC_CHILDREN.get(key)
    if children is None:
        children = (metrics.REQUESTS.labels(method, route, str(status)), metrics.LATENCY.labels(method, route))
        if len(_METRIC_CHILDREN) < _METRIC_CHILDREN_MAX:
            _METRIC_CHILDREN[key] = children
    return children


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    # Unmatched paths are one label, or a scanner would explode the metric's cardinality.
    return path if isinstance(path, str) else "unmatched"


class RequestContextMiddleware:
    """Request id in and out, access log line, request metrics; and the 500 for an unhandled error.

    The outermost middleware of ours, inside only Starlette's ServerErrorMiddleware. An error
    that reaches it is answered here, with the request id, and logged here once with its
    traceback: left to Starlette it would be answered without the id, and logged again by uvicorn.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        # 32 hex digits, as uuid4().hex, at a quarter of its cost.
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else os.urandom(16).hex()
        token = request_id_var.set(request_id)
        start = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            error_log.error("unhandled error", exc_info=exc, extra={"path": scope["path"]})
            # Once a response has begun, uvicorn closes the connection when the app returns.
            if not response_started:
                await send_with_id(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(_INTERNAL_ERROR_BODY)).encode()),
                        ],
                    }
                )
                await send_with_id({"type": "http.response.body", "body": _INTERNAL_ERROR_BODY})
        finally:
            elapsed = time.perf_counter() - start
            route = _route_template(scope)
            method = scope["method"]
            counter, histogram = _request_metrics(method, route, status)
            counter.inc()
            histogram.observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                # Path only: a query string may carry anything a caller typed.
                access_log.info(
                    "request",
                    extra={
                        "method": method,
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client": client[0] if client else None,
                    },
                )
            request_id_var.reset(token)


class SettingsCORSMiddleware:
    """CORS configured from the settings loaded in the lifespan.

    The app object is created at import without settings (so infra can read its routes with no
    env), hence CORS is built when the lifespan reports its startup complete, before any request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._inner: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._building_on_startup(scope, send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._inner is None:  # an app served without its lifespan (a test's transport)
            self._build(scope["app"].state.settings.cors_origins)
        assert self._inner is not None
        await self._inner(scope, receive, send)

    def _building_on_startup(self, scope: Scope, send: Send) -> Send:
        async def send_after_building(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                self._build(scope["app"].state.settings.cors_origins)
            await send(message)

        return send_after_building

    def _build(self, origins: list[str]) -> None:
        self._inner = (
            CORSMiddleware(
                self.app,
                allow_origins=origins,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                expose_headers=["X-Request-ID"],
            )
            if origins
            else self.app
        )
