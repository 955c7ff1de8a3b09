"""``python -m service worker [celery worker options...]``: the Celery worker, as the settings say.

Pool, concurrency and queues come from WORKER_POOL, WORKER_CONCURRENCY and WORKER_QUEUES; any
further arguments go to ``celery worker`` after them, so they win (``--concurrency=8``,
``--hostname=...``, ``-Q imports``, ...). Logging stays the service's (JSON lines, secrets redacted).

SIGTERM is Celery's warm shutdown: the worker stops taking tasks, finishes those running (however
long they take: bound them with TASK_TIME_LIMIT_SECONDS and give the pod a longer grace period),
hands the tasks it had reserved but not started back to the broker, and exits 0. A second SIGTERM,
or SIGQUIT, is a cold shutdown: running tasks are abandoned and come back from the broker
after the visibility timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from wsgiref.simple_server import WSGIServer

import click
from celery import Celery, signals

from service import tracing
from service.config import Settings
from service.jobs import metrics
from service.jobs.celery_app import create_celery
from service.jobs.database import ProcessSessions
from service.jobs.heartbeat import HeartbeatFile
from service.jobs.tasks import register_tasks

log = logging.getLogger("service.jobs.worker")

# Logged by the worker's main process (operators and the tests look for them).
READY_MESSAGE = "worker ready"
SHUTTING_DOWN_MESSAGE = "worker shutting down"
STOPPED_MESSAGE = "worker stopped"
# The worker's name in traces when OTEL_SERVICE_NAME does not give one.
TRACED_SERVICE_NAME = "fastapi-service-worker"

# Exit status for extra arguments `celery worker` does not take (bad usage, as everywhere).
USAGE_ERROR = 2


def worker_argv(settings: Settings, extra_args: list[str]) -> list[str]:
    return [
        "--quiet",  # no banner: it is not a JSON line
        "worker",
        f"--pool={settings.worker_pool}",
        f"--concurrency={settings.effective_worker_concurrency()}",
        f"--queues={','.join(settings.worker_queues)}",
        f"--loglevel={settings.log_level}",
        # No worker-to-worker chatter: the worker needs none, and mingle delays start by a second.
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
        *extra_args,
    ]


class WorkerLifecycle:
    """What the worker's main process does around Celery's own work: heartbeat, metrics, log lines."""

    def __init__(self, settings: Settings, sessions: ProcessSessions) -> None:
        self.settings = settings
        self.sessions = sessions
        self.heartbeat = HeartbeatFile(settings.worker_heartbeat_file, settings.worker_heartbeat_max_age_seconds)
        self.metrics_server: WSGIServer | None = None

    def connect(self) -> None:
        signals.setup_logging.connect(self.keep_service_logging, weak=False)
        signals.worker_init.connect(self.on_worker_init, weak=False)
        signals.worker_process_init.connect(self.on_pool_process_init, weak=False)
        signals.worker_ready.connect(self.on_worker_ready, weak=False)
        signals.worker_shutting_down.connect(self.on_worker_shutting_down, weak=False)
        signals.worker_shutdown.connect(self.on_worker_shutdown, weak=False)
        signals.worker_process_shutdown.connect(self.on_pool_process_shutdown, weak=False)
        signals.task_prerun.connect(metrics.on_task_prerun, weak=False)
        signals.task_postrun.connect(metrics.on_task_postrun, weak=False)

    def keep_service_logging(self, **_: Any) -> None:
        """Connected, this tells Celery that logging is configured (service.logs did it)."""

    def on_worker_init(self, **_: Any) -> None:
        self.heartbeat.start()
        port = self.settings.worker_metrics_port
        if port:
            try:
                self.metrics_server = metrics.serve(port)
            except OSError as exc:
                # Tasks matter more than their metrics: run without, and say so.
                log.error("worker metrics not served", extra={"port": port, "error": type(exc).__name__})

    def on_pool_process_init(self, **_: Any) -> None:
        # A forked pool process inherits the metrics listener: close its copy, so that the port is
        # free as soon as the main process is gone, even while an orphaned child finishes.
        if self.metrics_server is not None:
            self.metrics_server.socket.close()

    def on_pool_process_shutdown(self, **_: Any) -> None:
        tracing.flush()  # a pool process's last spans, before it exits

    def on_worker_ready(self, **_: Any) -> None:
        log.info(
            READY_MESSAGE,
            extra={
                "pool": self.settings.worker_pool,
                "concurrency": self.settings.effective_worker_concurrency(),
                "queues": self.settings.worker_queues,
                "broker": f"{self.settings.redis_host}:{self.settings.redis_port}/{self.settings.celery_broker_db}",
                "metrics_port": self.settings.worker_metrics_port or None,
            },
        )

    def on_worker_shutting_down(self, sig: str = "", how: str = "", **_: Any) -> None:
        log.info(SHUTTING_DOWN_MESSAGE, extra={"signal": sig, "how": how})

    def on_worker_shutdown(self, **_: Any) -> None:
        self.heartbeat.stop()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
        self.sessions.dispose()
        tracing.flush()
        log.info(STOPPED_MESSAGE)


def build_worker(settings: Settings) -> tuple[Celery, WorkerLifecycle]:
    tracing.start(TRACED_SERVICE_NAME)  # before the pool forks: its processes inherit it
    celery = create_celery(settings)
    sessions = ProcessSessions(settings)
    register_tasks(celery, sessions, settings.import_batch_size)
    return celery, WorkerLifecycle(settings, sessions)


def run_worker(settings: Settings, extra_args: list[str]) -> int:
    """Run the worker until it shuts down; its exit status."""
    celery, lifecycle = build_worker(settings)
    lifecycle.connect()
    # Celery.start returns the command's exit status; celery-types declares it NoReturn.
    start: Callable[[list[str]], int | None] = celery.start
    try:
        status = start(worker_argv(settings, extra_args))
    except click.ClickException as exc:  # e.g. an extra argument `celery worker` does not take
        click.echo(f"usage error: {exc.format_message()}", err=True)
        return USAGE_ERROR
    return int(status or 0)
