"""Database models (the tables ``service/migrations`` creates), apart from the engine that reaches them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import JSON, BigInteger, Integer, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (MySQL DATETIME has no zone), returned as aware UTC."""

    # Microsecond precision, so a value read back equals the one written.
    impl = mysql.DATETIME(fsp=6)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow)


ImportState = Literal["queued", "running", "succeeded", "failed"]
# States a task run leaves alone: the job is over (a redelivered message finds it so).
FINISHED_STATES: frozenset[ImportState] = frozenset({"succeeded", "failed"})


class ImportJob(Base):
    """A bulk import: the items as the API validated them, and how far the worker got with them.

    ``processed`` is the progress marker: items ``[0, processed)`` are done (inserted or failed).
    The worker advances it in the transaction that inserts a batch, so a task run again after a
    crash carries on from there and inserts nothing twice.
    """

    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    state: Mapped[ImportState] = mapped_column(String(16), nullable=False, default="queued")
    total: Mapped[int] = mapped_column(Integer, nullable=False)
    processed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    inserted: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Task runs that worked on it: more than 1 after a redelivery (a worker lost) or a retry.
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # ItemIn dumps, in request order; read by the worker only.
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    # ImportError dumps, at most MAX_REPORTED_ERRORS (service/jobs/imports.py); `failed` counts all.
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
