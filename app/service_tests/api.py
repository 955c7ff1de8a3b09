"""Calls on the API that tests share, and where its routes are."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute


async def create_item(client: httpx.AsyncClient, name: str = "widget", **fields: object) -> dict[str, Any]:
    response = await client.post("/api/v1/items", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def route_of(app: FastAPI, endpoint: Callable[..., Any]) -> APIRoute:
    """The app's route that `endpoint` answers: its template is what metrics are labelled with."""
    (route,) = [r for r in app.routes if isinstance(r, APIRoute) and r.endpoint is endpoint]
    return route
