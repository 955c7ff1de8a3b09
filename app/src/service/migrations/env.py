"""Alembic environment: async engine from the service settings, serialised by a lock."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from service.config import Settings, get_settings
from service.models import Base

LOCK_NAME = "service_migrations"
LOCK_TIMEOUT_SECONDS = 120

config = context.config
target_metadata = Base.metadata


def _settings() -> Settings:
    settings = config.attributes.get("settings")
    return settings if isinstance(settings, Settings) else get_settings()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    settings = _settings()
    engine = create_async_engine(
        settings.database_url(),
        poolclass=NullPool,
        connect_args={"connect_timeout": settings.db_connect_timeout},
        hide_parameters=True,
    )
    try:
        async with engine.connect() as conn:
            # Two Jobs (or a Job and a developer) may run at once; MySQL DDL is not
            # transactional, so serialise on a server-side named lock.
            got = await conn.scalar(
                text("SELECT GET_LOCK(:name, :timeout)"), {"name": LOCK_NAME, "timeout": LOCK_TIMEOUT_SECONDS}
            )
            if got != 1:
                raise RuntimeError("could not acquire the migration lock")
            try:
                await conn.run_sync(_run)
                await conn.commit()
            finally:
                await conn.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": LOCK_NAME})
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_settings().database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_online())
