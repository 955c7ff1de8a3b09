"""The database engine and sessions, and which of its errors mean "unreachable"."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy.exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from service.config import Settings

# MySQL error codes 2000-2999 are the client library's own (CR_*): the server could not be
# reached, or the connection was lost or closed. 0 is PyMySQL's "connection already closed".
_CLIENT_ERRORS = range(2000, 3000)
_CONNECTION_CLOSED = 0
# Server errors that end or refuse a connection rather than reject a statement: too many
# connections, shutdown in progress, connection killed, closed for inactivity.
_SERVER_CONNECTION_ERRORS = frozenset({1040, 1053, 1927, 4031})


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


def create_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(settings.database_url(), **engine_options(settings))


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
