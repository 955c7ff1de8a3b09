"""The API's side of the queue: publish a task, or say the queue is unavailable (a 503)."""

from __future__ import annotations

import asyncio

from celery import Celery
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from service.jobs.celery_app import IMPORT_TASK

# What a publish raises when Redis cannot take it (after the retries of task_publish_retry_policy).
_BROKER_ERRORS = (KombuOperationalError, RedisError, OSError, TimeoutError)


class QueueUnavailableError(Exception):
    """The broker did not take the task; the API answers 503."""


class TaskQueue:
    def __init__(self, celery: Celery) -> None:
        self.celery = celery

    async def enqueue_import(self, import_id: int) -> None:
        """Queue the import of job `import_id`; QueueUnavailableError when Redis does not take it."""
        # kombu publishes synchronously: in a thread, so the event loop keeps serving meanwhile.
        try:
            await asyncio.to_thread(self.celery.send_task, IMPORT_TASK, args=[import_id], retry=True)
        except _BROKER_ERRORS as exc:
            raise QueueUnavailableError(type(exc).__name__) from exc

    def close(self) -> None:
        self.celery.close()
