"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware on the hot path)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import metrics
from service.cache import cached_item_response
from service.deps import bearer_token
from service.logs import request_id_var
from service.schemas import MAX_ITEM_ID

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
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
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

    The app object is created at import without settings (so infra can read
    its routes with no env), hence CORS is built on the first request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._inner: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._inner is None:
            state: Any = scope["app"].state
            origins: list[str] = state.settings.cors_origins
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
        await self._inner(scope, receive, send)


_ITEM_PREFIX = "/api/v1/items/"
_ITEM_TEMPLATE = _ITEM_PREFIX + "{item_id}"


class CachedItemReadMiddleware:
    """Serves ``GET /api/v1/items/{id}`` cache hits without FastAPI's routing and dependencies.

    Only the exact case the full route would answer ``200 X-Cache: hit`` is served
    here: a canonical positive id in range, a valid Bearer key and a cached value
    (already a serialized ItemOut). Anything else (a miss, a bad or missing key,
    an odd path, dependency overrides, a root_path) falls through to the app, which
    answers as before. Sits inside the request-context and CORS middleware, so request
    ids, metrics (labelled with the route template) and CORS headers are unchanged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._route: Any = None

    def _item_route(self, fastapi_app: Any) -> Any:
        if self._route is None:
            for route in fastapi_app.router.routes:
                if getattr(route, "path", None) == _ITEM_TEMPLATE and "GET" in getattr(route, "methods", ()):
                    self._route = route
                    break
        return self._route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(_ITEM_PREFIX) and not scope.get("root_path"):
                raw_id = path[len(_ITEM_PREFIX) :]
                # Canonical decimal only ("01", "+1", "1/" ... take the full route).
                if raw_id.isascii() and raw_id.isdigit() and raw_id[0] != "0" and len(raw_id) <= 19:
                    item_id = int(raw_id)
                    if item_id <= MAX_ITEM_ID and await self._serve_hit(scope, receive, send, item_id):
                        return
        await self.app(scope, receive, send)

    async def _serve_hit(self, scope: Scope, receive: Receive, send: Send, item_id: int) -> bool:
        fastapi_app = scope["app"]
        if fastapi_app.dependency_overrides:
            return False
        route = self._item_route(fastapi_app)
        if route is None:
            return False
        token = await bearer_token(Request(scope))
        state = fastapi_app.state
        if token is None or not state.api_keys.is_valid(token.credentials):
            return False  # the full route answers the 401
        response = await cached_item_response(state.cache, item_id)
        if response is None:
            return False
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {"item_id": item_id}
        await response(scope, receive, send)
        return True
