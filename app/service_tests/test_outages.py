"""Outages of the real servers, stopped inside the test (restarted by conftest)."""

from __future__ import annotations

import httpx

from service.schemas import Problem, Readiness
from service_tests.api import create_item
from testservers import MariaDB, RedisServer


async def test_readyz_is_200_when_database_and_redis_are_up(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


async def test_readyz_stays_200_and_reports_redis_outage(anon: httpx.AsyncClient, redis_server: RedisServer) -> None:
    redis_server.stop()
    response = await anon.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "checks": {"database": "ok", "redis": "unavailable"}}


async def test_item_read_survives_redis_outage(client: httpx.AsyncClient, redis_server: RedisServer) -> None:
    created = await create_item(client)
    redis_server.stop()
    response = await client.get(f"/api/v1/items/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created


async def test_item_writes_succeed_during_redis_outage(client: httpx.AsyncClient, redis_server: RedisServer) -> None:
    redis_server.stop()
    created = await create_item(client)
    patched = await client.patch(f"/api/v1/items/{created['id']}", json={"name": "renamed"})
    deleted = await client.delete(f"/api/v1/items/{created['id']}")
    assert (patched.status_code, deleted.status_code) == (200, 204)


async def test_cache_repopulates_when_redis_returns(client: httpx.AsyncClient, redis_server: RedisServer) -> None:
    redis_server.stop()
    created = await create_item(client)
    await client.get(f"/api/v1/items/{created['id']}")
    redis_server.start()
    first = await client.get(f"/api/v1/items/{created['id']}")
    second = await client.get(f"/api/v1/items/{created['id']}")
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")


async def test_readyz_is_503_when_database_is_stopped(anon: httpx.AsyncClient, mariadb: MariaDB) -> None:
    mariadb.stop()
    response = await anon.get("/readyz")
    assert response.status_code == 503
    assert Readiness.model_validate(response.json()).checks.database == "unavailable"


async def test_item_request_returns_503_json_when_database_is_stopped(
    client: httpx.AsyncClient, mariadb: MariaDB, redis_server: RedisServer
) -> None:
    await client.get("/api/v1/items")  # a pooled connection that goes stale
    mariadb.stop()
    response = await client.get("/api/v1/items")
    assert response.status_code == 503
    Problem.model_validate(response.json())
    assert int(response.headers["retry-after"]) > 0
    assert "Traceback" not in response.text


async def test_service_recovers_when_database_returns(client: httpx.AsyncClient, mariadb: MariaDB) -> None:
    await client.get("/api/v1/items")
    mariadb.stop()
    assert (await client.get("/readyz")).status_code == 503
    mariadb.start()
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.get("/api/v1/items")).status_code == 200
