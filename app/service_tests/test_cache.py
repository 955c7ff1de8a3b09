from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from service.api import items
from service.api.items import ItemReadRoute
from service.cache import Cache
from service.config import Settings
from service.deps import get_cache
from service.schemas import MAX_ITEM_ID
from service_tests.api import create_item, route_of
from service_tests.testbed import database, redis_client
from testservers import MariaDB, RedisServer


def change_row_behind_the_service(mariadb: MariaDB, item_id: object, name: str) -> None:
    with database(mariadb) as conn, conn.cursor() as cur:
        cur.execute("UPDATE items SET name = %s WHERE id = %s", (name, item_id))


async def test_item_read_misses_then_hits(client: httpx.AsyncClient, redis_server: RedisServer) -> None:
    created = await create_item(client)
    with redis_client(redis_server) as r:
        r.flushdb()  # creation writes through; start cold
    first = await client.get(f"/api/v1/items/{created['id']}")
    second = await client.get(f"/api/v1/items/{created['id']}")
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert first.json() == second.json() == created


async def test_cached_item_is_served_without_the_database(client: httpx.AsyncClient, mariadb: MariaDB) -> None:
    created = await create_item(client, "cached")
    change_row_behind_the_service(mariadb, created["id"], "changed directly")
    response = await client.get(f"/api/v1/items/{created['id']}")
    assert response.json()["name"] == "cached"


async def test_cached_item_has_the_configured_ttl(
    client: httpx.AsyncClient, redis_server: RedisServer, settings: Settings
) -> None:
    created = await create_item(client)
    with redis_client(redis_server) as r:
        ttl = r.ttl(Cache.item_key(created["id"]))
    assert 0 < int(ttl) <= settings.cache_ttl_seconds


async def test_update_invalidates_cached_item(client: httpx.AsyncClient) -> None:
    created = await create_item(client, "before")
    await client.get(f"/api/v1/items/{created['id']}")
    await client.patch(f"/api/v1/items/{created['id']}", json={"name": "after"})
    response = await client.get(f"/api/v1/items/{created['id']}")
    assert (response.json()["name"], response.headers["x-cache"]) == ("after", "miss")


async def test_delete_invalidates_cached_item(client: httpx.AsyncClient, redis_server: RedisServer) -> None:
    created = await create_item(client)
    await client.delete(f"/api/v1/items/{created['id']}")
    with redis_client(redis_server) as r:
        assert r.exists(Cache.item_key(created["id"])) == 0


def _comparable(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted((k, v) for k, v in response.headers.items() if k not in ("date", "x-request-id"))
    return response.status_code, response.content, headers


async def through_fastapi(app: FastAPI, client: httpx.AsyncClient, path: str) -> httpx.Response:
    """GET `path` through FastAPI's dependency solver: any dependency override makes ItemReadRoute step aside."""
    app.dependency_overrides[get_cache] = get_cache
    try:
        return await client.get(path)
    finally:
        app.dependency_overrides.clear()


async def test_item_reads_called_directly_answer_as_through_fastapi(
    app: FastAPI, client: httpx.AsyncClient, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct: list[int] = []
    original = ItemReadRoute.call_endpoint

    async def spy(self: ItemReadRoute, request: Any) -> Any:
        response = await original(self, request)
        if response is not None:
            direct.append(response.status_code)
        return response

    monkeypatch.setattr(ItemReadRoute, "call_endpoint", spy)
    created = await create_item(client)
    path = f"/api/v1/items/{created['id']}"
    hits_before = REGISTRY.get_sample_value("service_cache_requests_total", {"result": "hit"}) or 0.0
    hit = await client.get(path, headers={"X-Request-ID": "direct-1"})
    assert (hit.headers["x-request-id"], hit.headers["x-cache"]) == ("direct-1", "hit")
    assert REGISTRY.get_sample_value("service_cache_requests_total", {"result": "hit"}) == hits_before + 1
    route = route_of(app, items.get_item).path
    assert (
        REGISTRY.get_sample_value("http_requests_total", {"method": "GET", "route": route, "status": "200"}) or 0.0
    ) >= 1
    assert _comparable(hit) == _comparable(await through_fastapi(app, client, path))
    with redis_client(redis_server) as r:
        r.flushdb()
    miss = await client.get(path)
    with redis_client(redis_server) as r:
        r.flushdb()
    assert (miss.headers["x-cache"], _comparable(miss)) == (
        "miss",
        _comparable(await through_fastapi(app, client, path)),
    )
    missing = await client.get("/api/v1/items/424242")  # get_item's 404, raised through the direct call
    assert (missing.status_code, _comparable(missing)) == (
        404,
        _comparable(await through_fastapi(app, client, "/api/v1/items/424242")),
    )
    assert direct == [200, 200]  # the hit and the miss; the 404 raised; the FastAPI calls never came here


async def test_item_reads_leave_what_does_not_validate_to_fastapi(client: httpx.AsyncClient) -> None:
    created = await create_item(client)
    item_id = created["id"]
    missing = await client.get(f"/api/v1/items/{item_id}", headers={"Authorization": ""})
    assert (missing.status_code, missing.headers["www-authenticate"].startswith("Bearer")) == (401, True)
    bad = await client.get(f"/api/v1/items/{item_id}", headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]
    padded = await client.get(f"/api/v1/items/0{item_id}")
    assert (padded.status_code, padded.json()) == (200, created)
    assert (await client.get("/api/v1/items/0")).status_code == 422
    assert (await client.get(f"/api/v1/items/{MAX_ITEM_ID + 1}")).status_code == 422
    assert (await client.head(f"/api/v1/items/{item_id}")).status_code == 405
