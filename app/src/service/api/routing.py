"""The route class of the /api routes: a request body that cannot be JSON text is a 422 field error.

FastAPI answers JSON that does not parse with a 422 ``json_invalid`` error, but a body that is not
UTF-8 (RFC 8259 allows no other encoding between systems), or is nested past Python's recursion
limit, with an undocumented 400. Raising the decode error FastAPI already handles gives every
malformed body the same documented 422.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


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
