"""The API's connection pool: opened before the first request, checkouts in order, idle ones checked before use."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.util.concurrency import greenlet_spawn
from sqlalchemy.util.queue import Empty

from service.config import Settings
from service.db import PING_AFTER_IDLE_SECONDS, HandOffQueue, create_engine
from service.main import DATABASE_UNREACHABLE_AT_START, create_app
from service_tests.testbed import database, make_settings
from testservers import MariaDB, RedisServer, free_port


async def checkout(queue: HandOffQueue[str], pool_timeout: float = 5.0) -> str:
    # The pool calls get() in SQLAlchemy's greenlet, as here.
    item: str = await greenlet_spawn(queue.get, True, pool_timeout)
    return item


async def test_a_connection_given_back_goes_to_the_longest_waiting_checkout() -> None:
    queue: HandOffQueue[str] = HandOffQueue(maxsize=1)
    first = asyncio.ensure_future(checkout(queue))
    await asyncio.sleep(0)  # waiting
    second = asyncio.ensure_future(checkout(queue))
    await asyncio.sleep(0)
    late = asyncio.ensure_future(checkout(queue))  # runs before `first` wakes: it must not take the connection
    queue.put_nowait("connection")
    assert await first == "connection"
    queue.put_nowait("connection")
    assert await second == "connection"
    assert not late.done()
    queue.put_nowait("connection")
    assert await late == "connection"


async def test_a_checkout_that_waits_past_the_pool_timeout_fails() -> None:
    queue: HandOffQueue[str] = HandOffQueue(maxsize=1)
    with pytest.raises(Empty):
        await checkout(queue, pool_timeout=0.05)
    queue.put_nowait("connection")  # not handed to the checkout that gave up
    assert queue.qsize() == 1


async def test_an_idle_connection_the_server_closed_is_replaced_before_use(
    settings: Settings, mariadb: MariaDB
) -> None:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            first_id = (await conn.execute(text("SELECT CONNECTION_ID()"))).scalar_one()
        with database(mariadb) as root, root.cursor() as cur:
            cur.execute("KILL %s", (first_id,))
        await asyncio.sleep(PING_AFTER_IDLE_SECONDS * 2)
        async with engine.connect() as conn:
            second_id = (await conn.execute(text("SELECT CONNECTION_ID()"))).scalar_one()
    finally:
        await engine.dispose()
    assert second_id != first_id


async def test_the_pool_holds_a_connection_before_the_first_request(app: FastAPI) -> None:
    async with app.router.lifespan_context(app):
        pool = app.state.engine.sync_engine.pool
        assert pool.checkedin() >= 1, "the first request would open the pool's first connection"


async def test_a_database_down_at_start_is_logged_and_the_process_still_serves(
    mariadb: MariaDB, redis_server: RedisServer, secrets_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_settings(mariadb, redis_server, secrets_dir, db_port=free_port(), db_connect_timeout=1))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as anon:
            assert (await anon.get("/healthz")).status_code == 200
            assert (await anon.get("/readyz")).status_code == 503
    assert DATABASE_UNREACHABLE_AT_START in caplog.messages
