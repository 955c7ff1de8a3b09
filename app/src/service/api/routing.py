"""The route classes of the /api routes.

``JsonBodyRoute``: a request body that cannot be JSON text is a 422 field error. FastAPI answers
JSON that does not parse with a 422 ``json_invalid`` error, but a body that is not UTF-8 (RFC 8259
allows no other encoding between systems), or is nested past Python's recursion limit, with an
undocumented 400. Raising the decode error FastAPI already handles gives every malformed body the
same documented 422.

``DirectRoute``: a route that calls its endpoint without FastAPI's dependency solver.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, ClassVar

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send


class JsonTextRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise json.JSONDecodeError("not UTF-8", body.decode("utf-8", "replace"), exc.start) from exc
            try:
                self._json = json.loads(text)
            except RecursionError as exc:
                raise json.JSONDecodeError("nested too deeply", text, 0) from exc
        return self._json


class JsonBodyRoute(APIRoute):
    """An APIRoute whose handler reads the body through JsonTextRequest (FastAPI's custom-request hook)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_json_text(request: Request) -> Response:
            return await handle(JsonTextRequest(request.scope, request.receive))

        return handle_json_text


class DirectRoute(JsonBodyRoute):
    """A route that calls its endpoint itself when it can, without FastAPI's dependency solver, which
    costs more than the rest of a cached read together (a cached read through the solver took
    1,100,000 instructions, called directly 400,000; callgrind).

    A subclass's ``call_endpoint`` reuses the route's own definitions: its path parameters as the
    route matched them, validated by the types the endpoint declares, and the route's dependencies,
    called as they are; it returns None for a request it leaves to FastAPI (a parameter that does
    not validate, answered with FastAPI's 422). Errors it raises (a 401 from the authentication
    dependency, the endpoint's 404) are answered by the app's exception handlers, as FastAPI's are.
    It runs inside every middleware (request id, metrics labelled with this route's template, CORS),
    and steps aside while the app has dependency overrides, which a direct call would not apply.

    ``dependencies_called`` names every dependency ``call_endpoint`` calls; a route that depends on
    anything else (a dependency added to its router, say) is refused when it is built, so the two
    ways in cannot drift apart.
    """

    dependencies_called: ClassVar[frozenset[Callable[..., Any]]] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        declared = {dependant.call for dependant in _sub_dependants(self.dependant)}
        if declared != self.dependencies_called:
            uncalled = ", ".join(sorted(_name(call) for call in declared - self.dependencies_called)) or "-"
            undeclared = ", ".join(sorted(_name(call) for call in self.dependencies_called - declared)) or "-"
            raise TypeError(
                f"{type(self).__name__} for {self.path}: the route depends on what call_endpoint does not call "
                f"({uncalled}), or call_endpoint calls what it does not depend on ({undeclared})"
            )

    async def call_endpoint(self, request: Request) -> Response | None:
        """The endpoint's answer, or None to leave the request to FastAPI."""
        raise NotImplementedError

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] in (self.methods or ()) and not scope["app"].dependency_overrides:
            response = await self.call_endpoint(Request(scope, receive))
            if response is not None:
                await response(scope, receive, send)
                return
        await super().handle(scope, receive, send)


def _sub_dependants(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _sub_dependants(sub)


def _name(call: Callable[..., Any] | None) -> str:
    return getattr(call, "__name__", None) or type(call).__name__
