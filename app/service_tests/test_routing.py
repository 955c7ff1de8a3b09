"""DirectRoute: a route that calls its endpoint itself must call every dependency the route declares."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, Depends

from service.api import items
from service.api.routing import JsonBodyRoute
from service.deps import ApiKey


async def audit_log() -> None:
    """A dependency the item route's direct call knows nothing about."""


def test_a_direct_route_refuses_a_dependency_its_direct_call_would_skip() -> None:
    router = APIRouter(prefix="/api/v1/items", dependencies=[ApiKey, Depends(audit_log)], route_class=JsonBodyRoute)
    with pytest.raises(TypeError, match=r"does not call \(audit_log\)"):
        router.add_api_route("/{item_id}", items.get_item, methods=["GET"], route_class_override=items.ItemReadRoute)


def test_the_item_route_is_called_directly() -> None:
    (route,) = [r for r in items.router.routes if getattr(r, "endpoint", None) is items.get_item]
    assert isinstance(route, items.ItemReadRoute)
