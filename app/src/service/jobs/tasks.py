"""The worker's tasks, registered on its Celery app, and what each does when things go wrong.

- The database unreachable: retried with a growing delay (at most RETRY_DELAY_MAX_SECONDS), for as
  long as it takes; the task's progress is in the database, so a retry goes on from there.
- The soft time limit reached: retried at once, to go on from the last batch committed.
- Anything else is a bug: the job is marked failed, and Celery logs the traceback.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy.exc
from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded

from service.db import is_unreachable
from service.jobs.celery_app import IMPORT_TASK
from service.jobs.database import ProcessSessions
from service.jobs.imports import ImportRunner
from service.logs import log_context

log = logging.getLogger("service.jobs.tasks")

RETRY_DELAY_MAX_SECONDS = 30


def retry_delay(retries: int) -> int:
    """Seconds before retry number `retries` + 1: 1, 2, 4, ... up to RETRY_DELAY_MAX_SECONDS.

    Kept well below any visibility timeout (which exceeds the task time limit): a task waiting
    for its retry holds an unacknowledged message that Redis would otherwise hand out again.
    """
    return int(min(2**retries, RETRY_DELAY_MAX_SECONDS))


def register_tasks(app: Celery, sessions: ProcessSessions, batch_size: int) -> None:
    @app.task(name=IMPORT_TASK, bind=True)
    def import_items(task: Task[Any, Any], import_id: int) -> dict[str, Any] | None:
        runner = ImportRunner(sessions(), batch_size)
        with log_context(import_id=import_id, task_id=task.request.id):
            try:
                summary = runner.run(import_id)
            except SoftTimeLimitExceeded as exc:
                log.warning("import reached the soft time limit, going on in a new run")
                raise task.retry(exc=exc, countdown=0, max_retries=None) from exc
            except LookupError:
                log.warning("import deleted while running, stopped")
                return None
            except (sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError) as exc:
                if not is_unreachable(exc):
                    _fail(runner, import_id, exc)
                    raise
                delay = retry_delay(task.request.retries)
                log.warning("database unavailable, import retried", extra={"error": type(exc).__name__, "delay": delay})
                raise task.retry(exc=exc, countdown=delay, max_retries=None) from exc
            except Exception as exc:
                _fail(runner, import_id, exc)
                raise
            return None if summary is None else vars(summary)


def _fail(runner: ImportRunner, import_id: int, exc: BaseException) -> None:
    # The class name only: a message may quote SQL. Celery logs the traceback.
    try:
        runner.fail(import_id, f"job stopped by an internal error ({type(exc).__name__})")
    except Exception as marking:
        log.error("import could not be marked failed", extra={"error": type(marking).__name__})
