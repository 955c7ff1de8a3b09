from __future__ import annotations

import httpx

from service.cache import Cache
from service.config import Settings
from tests.conftest import TEST_DB
from tests.servers import MariaDB, RedisServer
from tests.test_items import create


def change_row_behind_the_service(mariadb: MariaDB, item_id: object, name: str) -> None:
    with mariadb.root(TEST_DB) as conn, conn.cursor() as cur:
        cur.execute("UPDATE items SET name = %s WHERE id = %s", (name, item_id))


async def test_item_read_misses_then_hits(client: httpx.AsyncClient, redis_server: RedisServer) -> None:
    created = await create(client)
    with redis_server.client() as r:
        r.flushdb()  # creation writes through; start cold
    first = await client.get(f"/api/v1/items/{created['id']}")
    second = await client.get(f"/api/v1/items/{created['id']}")
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert first.json() == second.json() == created


async def test_cached_item_is_served_without_the_database(client: httpx.AsyncClient, mariadb: MariaDB) -> None:
    created = await create(client, "cached")
    change_row_behind_the_service(mariadb, created["id"], "changed directly")
    response = await client.get(f"/api/v1/items/{created['id']}")
    assert response.json()["name"] == "cached"


async def test_cached_item_has_the_configured_ttl(
    client: httpx.AsyncClient, redis_server: RedisServer, settings: Settings
) -> None:
    created = await create(client)
    with redis_server.client() as r:
        ttl = r.ttl(Cache.item_key(int(str(created["id"]))))
    assert 0 < int(ttl) <= settings.cache_ttl_seconds


async def test_update_invalidates_cached_item(client: httpx.AsyncClient) -> None:
    created = await create(client, "before")
    await client.get(f"/api/v1/items/{created['id']}")
    await client.patch(f"/api/v1/items/{created['id']}", json={"name": "after"})
    response = await client.get(f"/api/v1/items/{created['id']}")
    assert (response.json()["name"], response.headers["x-cache"]) == ("after", "miss")


async def test_delete_invalidates_cached_item(client: httpx.AsyncClient, redis_server: RedisServer) -> None:
    created = await create(client)
    await client.delete(f"/api/v1/items/{created['id']}")
    with redis_server.client() as r:
        assert r.exists(Cache.item_key(int(str(created["id"])))) == 0
