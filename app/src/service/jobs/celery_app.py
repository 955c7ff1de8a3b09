"""The Celery app the API publishes with and the worker runs: Redis as broker and result backend,
on databases of their own (CELERY_BROKER_DB, CELERY_RESULT_DB), tasks acknowledged late.

Late acknowledgement: a task's message is acknowledged when the task has finished, not when a
worker took it. A worker killed mid-task leaves its message unacknowledged, and Redis hands it out
again: at once when only the pool process died (``task_reject_on_worker_lost``), after the
visibility timeout when the whole worker did. So a task may run more than once, and every task
here must be idempotent (service/jobs/imports.py says how the import is).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from celery import Celery

from service.config import Settings

# Task names: what the API publishes and the worker registers (service/jobs/tasks.py).
IMPORT_TASK = "service.import_items"
# Every task goes to this queue; a worker consumes the queues in WORKER_QUEUES.
DEFAULT_QUEUE = "default"

# Redis operations of the publisher (on the request path) and the worker: fail rather than hang.
REDIS_CONNECT_TIMEOUT_SECONDS = 1.0
REDIS_SOCKET_TIMEOUT_SECONDS = 5.0
# A publish the broker refuses is tried this many more times before the API answers 503.
PUBLISH_RETRIES = 2
# How long Redis keeps a task's result (the job's own record lives in MySQL).
RESULT_EXPIRES_SECONDS = 3600
# kombu sweeps unacknowledged messages older than the visibility timeout back into their queue
# every `unacked_restore_interval` x `unacked_restore_throttle` seconds (100 s by default).
MAX_RESTORE_SWEEP_SECONDS = 10


def redis_url(settings: Settings, db: int) -> str:
    """The Redis URL of database `db`, password included: never log it (Celery masks it in its own lines)."""
    password = settings.redis_password.get_secret_value()
    auth = f":{quote(password, safe='')}@" if password else ""
    host = f"[{settings.redis_host}]" if ":" in settings.redis_host else settings.redis_host
    return f"redis://{auth}{host}:{settings.redis_port}/{db}"


def restore_sweep_seconds(visibility_timeout: int) -> int:
    """How often the worker looks for messages a lost worker left unacknowledged: a quarter of
    the visibility timeout, at most MAX_RESTORE_SWEEP_SECONDS (one ZRANGE each time)."""
    return max(1, min(MAX_RESTORE_SWEEP_SECONDS, visibility_timeout // 4))


def celery_config(settings: Settings) -> dict[str, Any]:
    redis_socket = {
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
        "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
    }
    return {
        "broker_url": redis_url(settings, settings.celery_broker_db),
        "result_backend": redis_url(settings, settings.celery_result_db),
        "broker_transport_options": {
            "visibility_timeout": settings.broker_visibility_timeout_seconds,
            "unacked_restore_interval": restore_sweep_seconds(settings.broker_visibility_timeout_seconds),
            "unacked_restore_throttle": 1,
            **redis_socket,
        },
        "redis_socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
        "redis_socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
        "broker_connection_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
        # The worker waits for the broker at start and after a loss, however long it is gone.
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "task_publish_retry_policy": {
            "max_retries": PUBLISH_RETRIES,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_default_queue": DEFAULT_QUEUE,
        "task_soft_time_limit": settings.task_soft_time_limit_seconds,
        "task_time_limit": settings.task_time_limit_seconds,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_expires": RESULT_EXPIRES_SECONDS,
        "worker_prefetch_multiplier": settings.worker_prefetch_multiplier,
        "worker_max_tasks_per_child": settings.worker_max_tasks_per_child or None,
        # Logging is the service's (JSON, redacted): Celery must not install its own handlers.
        "worker_hijack_root_logger": False,
        # Probes are files and PINGs, not `celery inspect`: no broadcast queue per worker.
        "worker_enable_remote_control": False,
        # Keep running a task whose broker connection dropped: its message stays unacknowledged
        # and comes back, and the task is idempotent. (Set to silence Celery's warning about the default.)
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "enable_utc": True,
        "timezone": "UTC",
    }


def create_celery(settings: Settings, *, result_backend: bool = True) -> Celery:
    """The app; `result_backend=False` for a publisher that never reads results (the API: a job's
    outcome is its row in MySQL). With the Redis result backend, every publish would also subscribe
    the publisher to the task's result channel."""
    # Not the "current app": the API's lifespan may build several over a test session.
    app = Celery("service", set_as_current=False)
    config = celery_config(settings)
    if not result_backend:
        config["result_backend"] = None
    app.conf.update(config)
    return app
