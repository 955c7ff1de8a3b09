"""The database engine and sessions, and which of its errors mean "unreachable"."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, TypeVar

import sqlalchemy.exc
from sqlalchemy import Engine, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util.concurrency import await_
from sqlalchemy.util.queue import Empty, Full, QueueCommon

from service.config import Settings

_T = TypeVar("_T")

# MySQL error codes 2000-2999 are the client library's own (CR_*): the server could not be
# reached, or the connection was lost or closed. 0 is PyMySQL's "connection already closed".
_CLIENT_ERRORS = range(2000, 3000)
_CONNECTION_CLOSED = 0
# Server errors that end or refuse a connection rather than reject a statement: too many
# connections, shutdown in progress, connection killed, closed for inactivity.
_SERVER_CONNECTION_ERRORS = frozenset({1040, 1053, 1927, 4031})
# A pooled connection idle for longer than this is pinged before it is used (DB_POOL_PRE_PING pings
# every one: a round trip per request, 10-15% of an uncached read's throughput). A server restart
# takes longer (a test server's stop and start: 0.25 s), so the connections it closed are found and
# replaced before a request meets them; under load a connection is back in use within milliseconds
# and no request pays for a ping.
PING_AFTER_IDLE_SECONDS = 0.1
_CHECKED_IN = "service_checked_in"


def engine_options(settings: Settings) -> dict[str, Any]:
    """Pool and connection options, the API's and the worker's engines alike."""
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout,
        "pool_recycle": settings.db_pool_recycle,
        "pool_pre_ping": settings.db_pool_pre_ping,
        # Fail fast when the server is gone instead of hanging a request or a task.
        "connect_args": {"connect_timeout": settings.db_connect_timeout},
        # Bound values may be secrets, personal data or imported items; never echo SQL.
        "echo": False,
        "hide_parameters": True,
    }


class HandOffQueue(QueueCommon[_T]):
    """The pool's idle connections; one given back while checkouts wait goes to the longest waiting.

    SQLAlchemy's asyncio queue lets a new checkout take a connection that was given back for a
    waiting one, which then waits again at the end of the line: under load some requests wait
    for a connection far longer than the rest (POST /api/v1/items at 64 connections: checkout p99
    283 ms, max 692 ms, for a p50 of 40 ms). Handing the connection over keeps checkouts in order.
    """

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        self.maxsize = maxsize
        self.use_lifo = use_lifo
        self._idle: deque[_T] = deque()  # only while no checkout waits
        self._waiting: deque[asyncio.Future[_T]] = deque()

    def empty(self) -> bool:
        return not self._idle

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._idle)

    def qsize(self) -> int:
        return len(self._idle)

    def put_nowait(self, item: _T) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():  # else it timed out or was cancelled
                waiter.set_result(item)
                return
        if self.full():
            raise Full()
        self._idle.append(item)

    def put(self, item: _T, block: bool = True, timeout: float | None = None) -> None:
        self.put_nowait(item)  # never waits: the pool gives back at most as many as it holds

    def get_nowait(self) -> _T:
        if not self._idle:
            raise Empty()
        return self._idle.pop() if self.use_lifo else self._idle.popleft()

    def get(self, block: bool = True, timeout: float | None = None) -> _T:
        if self._idle or not block:
            return self.get_nowait()
        return await_(self._wait(timeout))

    async def _wait(self, timeout: float | None) -> _T:  # noqa: ASYNC109 - the pool's own timeout
        waiter: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except BaseException as exc:  # timed out, or the request was cancelled
            if waiter.done() and not waiter.cancelled():
                self.put_nowait(waiter.result())  # handed over just as we gave up: to the next one
            waiter.cancel()
            if isinstance(exc, TimeoutError):
                raise Empty() from None
            raise


class HandOffQueuePool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio pool, on a HandOffQueue."""

    _queue_class = HandOffQueue[ConnectionPoolEntry]


def ping_idle_connections(engine: Engine) -> None:
    """Ping a connection that was idle in ``engine``'s pool for more than PING_AFTER_IDLE_SECONDS when it is
    checked out; one that does not answer is replaced (SQLAlchemy's DisconnectionError protocol)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        checked_in = record.info.get(_CHECKED_IN)
        if checked_in is None or time.monotonic() - checked_in <= PING_AFTER_IDLE_SECONDS:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise sqlalchemy.exc.DisconnectionError("idle connection did not answer a ping") from exc


def create_engine(settings: Settings) -> AsyncEngine:
    engine = create_async_engine(settings.database_url(), poolclass=HandOffQueuePool, **engine_options(settings))
    ping_idle_connections(engine.sync_engine)
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def is_unreachable(exc: BaseException) -> bool:
    """Whether a database error means the server cannot be used right now (a 503), not a failed statement (a bug)."""
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        return True  # no pooled connection within DB_POOL_TIMEOUT
    if not isinstance(exc, sqlalchemy.exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True  # SQLAlchemy recognised a disconnect
    if not isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return False
    code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    if not isinstance(code, int):
        return False
    return code in _CLIENT_ERRORS or code == _CONNECTION_CLOSED or code in _SERVER_CONNECTION_ERRORS


async def ping_database(engine: AsyncEngine, within: float) -> bool:
    try:
        async with asyncio.timeout(within):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means "not reachable" to a probe
        return False


# The start-up connection is tried this often (one attempt per DB_CONNECT_TIMEOUT at most), a short
# pause between attempts: a pod's first connection may meet a NetworkPolicy agent that has not yet
# seen its address, which drops the first packets.
WARM_UP_ATTEMPTS = 3
WARM_UP_PAUSE_SECONDS = 0.5


async def warm_up(engine: AsyncEngine, connect_timeout: float) -> bool:
    """Open the pool's first connection before the process serves, so no request pays for it.

    Bounded (``WARM_UP_ATTEMPTS``) and never fatal: a database that is down at start leaves the
    process serving 503s until it returns, as it would if the database went away later."""
    for attempt in range(WARM_UP_ATTEMPTS):
        if attempt:
            await asyncio.sleep(WARM_UP_PAUSE_SECONDS)
        if await ping_database(engine, connect_timeout + 1):
            return True
    return False
