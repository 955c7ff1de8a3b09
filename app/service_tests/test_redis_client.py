"""The cache's Redis client against a real Redis: replies in order, errors, timeouts, reconnects."""

from __future__ import annotations

import asyncio

import pytest

from service.redis_client import RedisClient, RedisReplyError, encode_command
from service_tests.testbed import redis_client
from testservers import RedisServer


def client_of(server: RedisServer, *, db: int = 0, password: str | None = None, timeout: float = 2.0) -> RedisClient:
    return RedisClient("127.0.0.1", server.port, db=db, password=password or server.password, timeout=timeout)


async def test_concurrent_calls_each_get_their_own_reply(redis_server: RedisServer) -> None:
    values = {f"client-test:{i}": f"value {i}".encode() for i in range(200)}
    with redis_client(redis_server) as r:
        r.mset(values)
    client = client_of(redis_server)
    try:
        replies = await asyncio.gather(*(client.get(key) for key in values))
    finally:
        await client.aclose()
    assert replies == list(values.values())


async def test_a_cancelled_call_does_not_shift_the_replies(redis_server: RedisServer) -> None:
    with redis_client(redis_server) as r:
        r.mset({"client-test:first": b"first", "client-test:second": b"second"})
    client = client_of(redis_server)
    try:
        assert await client.get("client-test:first") == b"first"  # connected
        cancelled = asyncio.ensure_future(client.get("client-test:first"))
        await asyncio.sleep(0)  # its command is queued on the connection
        cancelled.cancel()
        assert await client.get("client-test:second") == b"second"
    finally:
        await client.aclose()


async def test_an_error_reply_raises_and_the_connection_goes_on(redis_server: RedisServer) -> None:
    with redis_client(redis_server) as r:
        r.set("client-test:text", b"not a number")
    client = client_of(redis_server)
    try:
        with pytest.raises(RedisReplyError, match="not an integer"):
            await client.execute(encode_command("INCR", "client-test:text"))
        assert await client.ping()
    finally:
        await client.aclose()


async def test_a_wrong_password_fails_every_call(redis_server: RedisServer) -> None:
    client = client_of(redis_server, password="not-the-password")
    try:
        for _ in range(2):
            with pytest.raises(RedisReplyError):
                await client.ping()
    finally:
        await client.aclose()


async def test_the_configured_database_is_used(redis_server: RedisServer) -> None:
    with redis_client(redis_server) as r:
        r.execute_command("SELECT", 5)
        r.set("client-test:db", b"five")
    client = client_of(redis_server, db=5)
    try:
        assert await client.get("client-test:db") == b"five"
    finally:
        await client.aclose()


async def test_a_timed_out_call_drops_the_connection_and_the_next_call_reconnects(redis_server: RedisServer) -> None:
    client = client_of(redis_server, timeout=0.2)
    try:
        assert await client.ping()
        with redis_client(redis_server) as r:
            r.execute_command("CLIENT", "PAUSE", 600, "ALL")
        with pytest.raises(TimeoutError):
            await client.ping()
        await asyncio.sleep(0.6)  # the pause is over
        assert await client.ping()
    finally:
        await client.aclose()
