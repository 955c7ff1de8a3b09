"""The worker's database engine: synchronous (Celery tasks are plain functions), one per process.

A prefork pool forks its processes from the worker: a connection opened before the fork would be
shared by several processes, so each process builds its engine on first use.
"""

from __future__ import annotations

import os
import threading

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from service import tracing
from service.config import Settings
from service.db import engine_options, ping_idle_connections

# The same server as the API's, through PyMySQL, without asyncio.
SYNC_DRIVER = "mysql+pymysql"


def create_sync_engine(settings: Settings) -> Engine:
    engine = create_engine(settings.database_url().set(drivername=SYNC_DRIVER), **engine_options(settings))
    ping_idle_connections(engine)
    tracing.instrument_engine(engine)
    return engine


class ProcessSessions:
    """Sessions on an engine of this process's own, built on first use after any fork."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._engine: Engine | None = None
        self._maker: sessionmaker[Session] | None = None

    def __call__(self) -> sessionmaker[Session]:
        with self._lock:
            if self._maker is None or self._pid != os.getpid():
                # A copy inherited from the parent: forget its connections without closing them.
                if self._engine is not None:
                    self._engine.dispose(close=False)
                self._engine = create_sync_engine(self._settings)
                self._maker = sessionmaker(self._engine, expire_on_commit=False)
                self._pid = os.getpid()
            return self._maker

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None and self._pid == os.getpid():
                self._engine.dispose()
            self._engine = self._maker = self._pid = None
