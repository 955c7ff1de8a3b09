"""The API's connection pool: checkouts served in order, idle connections checked before use."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.util.concurrency import greenlet_spawn
from sqlalchemy.util.queue import Empty

from service.config import Settings
from service.db import PING_AFTER_IDLE_SECONDS, HandOffQueue, create_engine
from service_tests.testbed import database
from testservers import MariaDB


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
