"""The worker's Prometheus metrics, served on WORKER_METRICS_PORT by its main process.

A prefork pool runs tasks in child processes, so the metrics are kept in prometheus-client's
multiprocess mode: each process writes its own files under PROMETHEUS_MULTIPROC_DIR and the main
process adds them up when scraped. ``python -m service worker`` sets that variable to a fresh
directory when it is unset, before prometheus-client is imported (it reads it at import).
"""

from __future__ import annotations

import threading
import time
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

TASKS = Counter(
    "service_worker_tasks_total",
    "Task runs that ended, by task name and how: succeeded, failed, retried (a retry is a new run).",
    ["task", "state"],
)
TASK_DURATION = Histogram(
    "service_worker_task_duration_seconds",
    "Task run time by task name, whatever the outcome.",
    ["task"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0),
)

# Celery's task states as the metric's label says them.
_STATE_LABELS = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}

# Start times of the runs in progress in this process, by task id (prerun to postrun).
_started: dict[str, float] = {}
_started_lock = threading.Lock()


def on_task_prerun(task_id: str, **_: Any) -> None:
    with _started_lock:
        _started[task_id] = time.perf_counter()


def on_task_postrun(task_id: str, task: Any, state: str | None = None, **_: Any) -> None:
    with _started_lock:
        started = _started.pop(task_id, None)
    name = str(getattr(task, "name", "unknown"))
    TASKS.labels(name, _STATE_LABELS.get(state or "", (state or "unknown").lower())).inc()
    if started is not None:
        TASK_DURATION.labels(name).observe(time.perf_counter() - started)


def serve(port: int) -> WSGIServer:
    """Serve the metrics of every process of the worker on `port`, all interfaces, from a thread."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in prometheus-client
    server, _ = start_http_server(port, registry=registry)
    return server
