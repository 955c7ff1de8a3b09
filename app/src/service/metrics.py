"""Prometheus metrics.

With several uvicorn workers, set PROMETHEUS_MULTIPROC_DIR to an empty,
writable directory (e.g. under /tmp) so /metrics aggregates all workers.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests by method, route template and status code.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by method and route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DB_UP = Gauge("service_database_up", "1 when the last database check succeeded.", multiprocess_mode="max")
REDIS_UP = Gauge("service_redis_up", "1 when the last Redis check succeeded.", multiprocess_mode="max")
CACHE_REQUESTS = Counter("service_cache_requests_total", "Item cache lookups by result.", ["result"])

CONTENT_TYPE = CONTENT_TYPE_LATEST


def render() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in prometheus-client
        return generate_latest(registry)
    return generate_latest(REGISTRY)
