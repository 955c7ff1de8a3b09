from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from service.api import items
from service.cache import Cache
from service.config import Settings
from service.deps import get_cache
from service.middleware import CachedItemReadMiddleware
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


async def test_cache_hit_fast_path_answers_like_the_route(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[bool] = []
    original = CachedItemReadMiddleware._serve_hit

    async def spy(self: CachedItemReadMiddleware, *args: Any) -> bool:
        result = await original(self, *args)
        served.append(result)
        return result

    monkeypatch.setattr(CachedItemReadMiddleware, "_serve_hit", spy)
    created = await create_item(client)
    hits_before = REGISTRY.get_sample_value("service_cache_requests_total", {"result": "hit"}) or 0.0
    fast = await client.get(f"/api/v1/items/{created['id']}", headers={"X-Request-ID": "fast-1"})
    assert served == [True]
    assert fast.headers["x-request-id"] == "fast-1"
    assert REGISTRY.get_sample_value("service_cache_requests_total", {"result": "hit"}) == hits_before + 1
    route = route_of(app, items.get_item).path
    assert (
        REGISTRY.get_sample_value("http_requests_total", {"method": "GET", "route": route, "status": "200"}) or 0.0
    ) >= 1
    # Any dependency override makes the fast path step aside: the full route answers.
    app.dependency_overrides[get_cache] = get_cache
    try:
        full = await client.get(f"/api/v1/items/{created['id']}")
    finally:
        app.dependency_overrides.clear()
    assert served == [True, False]
    assert _comparable(fast) == _comparable(full)
    assert fast.headers["x-cache"] == "hit"
    assert fast.json() == created


async def test_cache_hit_fast_path_leaves_everything_else_to_the_route(client: httpx.AsyncClient) -> None:
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
