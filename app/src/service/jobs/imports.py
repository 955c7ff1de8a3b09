"""A bulk import's work: insert a job's items in batches, exactly once however often it runs.

Idempotency: ``imports.processed`` is the progress marker. Each batch is one transaction that
locks the job's row (``SELECT ... FOR UPDATE``), checks that the marker is where this run expects
it, inserts the batch and advances the marker. Either the batch and the marker commit together or
neither does: a run killed mid-batch leaves the marker before the batch, and the next run
inserts it then. Two runs at once (a redelivery while the first still runs) take turns on the lock;
the one that finds the marker moved on skips to it.

The same lock makes the API's publish safe: the API inserts the job, publishes the task and
commits, in that order. A task that starts before the commit waits on the row's lock; if the API
rolled back (the publish failed) it finds no job and does nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Select, insert, select
from sqlalchemy.orm import Session, defer, sessionmaker

from service.db import is_unreachable
from service.models import FINISHED_STATES, ImportJob, Item, utcnow

log = logging.getLogger("service.jobs.imports")

# errors[] keeps this many; `failed` counts every one.
MAX_REPORTED_ERRORS = 100


def _locked_job(import_id: int) -> Select[ImportJob]:
    """The job's row, locked until the transaction ends, without its items (the claim reads them once)."""
    return select(ImportJob).where(ImportJob.id == import_id).options(defer(ImportJob.items)).with_for_update()


@dataclass(frozen=True)
class ImportSummary:
    import_id: int
    state: str
    total: int
    inserted: int
    failed: int
    attempts: int


@dataclass(frozen=True)
class _Claimed:
    items: list[dict[str, Any]]
    processed: int
    attempt: int


class ImportRunner:
    def __init__(self, sessions: sessionmaker[Session], batch_size: int) -> None:
        self.sessions = sessions
        self.batch_size = batch_size

    def run(self, import_id: int) -> ImportSummary | None:
        """Insert what is left of job `import_id`; None when there is no such job or it is over."""
        claimed = self._claim(import_id)
        if claimed is None:
            return None
        started = time.monotonic()
        log.info(
            "import started",
            extra={"attempt": claimed.attempt, "total": len(claimed.items), "processed": claimed.processed},
        )
        position = claimed.processed
        while position < len(claimed.items):
            position = self._insert_batch(import_id, claimed.items, position)
        summary = self._finish(import_id)
        log.info(
            "import finished",
            extra={
                "state": summary.state,
                "inserted": summary.inserted,
                "failed": summary.failed,
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return summary

    def _claim(self, import_id: int) -> _Claimed | None:
        with self.sessions.begin() as session:
            job = session.scalar(select(ImportJob).where(ImportJob.id == import_id).with_for_update())
            if job is None:
                # The API rolled back after publishing (its publish failed or its commit did).
                log.warning("import not found, nothing to do")
                return None
            if job.state in FINISHED_STATES:
                log.info("import already finished, nothing to do", extra={"state": job.state})
                return None
            job.state = "running"
            job.attempts += 1
            job.started_at = job.started_at or utcnow()
            return _Claimed(items=job.items, processed=job.processed, attempt=job.attempts)

    def _insert_batch(self, import_id: int, items: list[dict[str, Any]], start: int) -> int:
        """Insert the batch at `start` and advance the marker past it; the position to go on from."""
        with self.sessions.begin() as session:
            job = session.scalar(_locked_job(import_id))
            if job is None:
                raise LookupError(f"import {import_id} deleted while running")
            if job.processed != start:
                return job.processed  # another run of this task did this batch meanwhile
            batch = items[start : start + self.batch_size]
            problems = _insert_items(session, batch, start)
            job.processed = start + len(batch)
            job.inserted += len(batch) - len(problems)
            job.failed += len(problems)
            if problems and len(job.errors) < MAX_REPORTED_ERRORS:
                job.errors = [*job.errors, *problems][:MAX_REPORTED_ERRORS]
            return job.processed

    def _finish(self, import_id: int) -> ImportSummary:
        with self.sessions.begin() as session:
            job = session.scalars(_locked_job(import_id)).one()
            if job.state not in FINISHED_STATES:
                job.state = "succeeded"
                job.finished_at = utcnow()
            return _summary(job)

    def fail(self, import_id: int, detail: str) -> None:
        """Mark the job failed where it stopped: what was not inserted counts as failed."""
        with self.sessions.begin() as session:
            job = session.scalar(_locked_job(import_id))
            if job is None or job.state in FINISHED_STATES:
                return
            job.state = "failed"
            job.failed = job.total - job.inserted
            job.errors = [*job.errors, {"position": job.processed, "detail": detail}][-MAX_REPORTED_ERRORS:]
            job.finished_at = utcnow()
        log.error("import failed", extra={"detail": detail})


def _insert_items(session: Session, batch: list[dict[str, Any]], start: int) -> list[dict[str, Any]]:
    """Insert `batch` (positions from `start`); the items the database refused, as ImportProblem dumps.

    One multi-row INSERT; if the database refuses it for a row's sake, row by row, each in a
    savepoint, so one bad row costs only itself. A lost connection is raised, not recorded: the
    transaction rolls back and the batch is tried again later.
    """
    now = utcnow()
    rows = [{**item, "created_at": now, "updated_at": now} for item in batch]
    try:
        with session.begin_nested():
            session.execute(insert(Item), rows)
        return []
    except sqlalchemy.exc.DBAPIError as exc:
        if is_unreachable(exc):
            raise
    problems = []
    for offset, row in enumerate(rows):
        try:
            with session.begin_nested():
                session.execute(insert(Item), [row])
        except sqlalchemy.exc.DBAPIError as exc:
            if is_unreachable(exc):
                raise
            problems.append({"position": start + offset, "detail": _database_message(exc)})
    return problems


def _database_message(exc: sqlalchemy.exc.DBAPIError) -> str:
    """The server's own words about a refused row (``1406: Data too long ...``): they name the
    column and quote at most the caller's own value, never a credential."""
    args = exc.orig.args if exc.orig is not None else ()
    if len(args) >= 2:
        return f"{args[0]}: {args[1]}"
    return type(exc.orig or exc).__name__


def _summary(job: ImportJob) -> ImportSummary:
    return ImportSummary(
        import_id=job.id,
        state=job.state,
        total=job.total,
        inserted=job.inserted,
        failed=job.failed,
        attempts=job.attempts,
    )
