"""The scenarios, in the order they run; each one's result is its key in results.json."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.harness.testbed import Testbed
from bench.scenarios import (
    cold_start,
    image,
    import_throughput,
    mysql_outage,
    offline,
    queue_latency,
    redis_outage,
    shutdown,
    throughput,
    tracing_cost,
    worker_drills,
)


@dataclass(frozen=True)
class Scenario:
    name: str  # its results.json key and --only value
    title: str  # the progress line announcing it
    run: Callable[[Testbed, bool], dict[str, Any]]  # (testbed, smoke) -> its results
    in_smoke: bool = True  # False: full mode or --only


SCENARIOS = (
    Scenario("throughput", "throughput", throughput.run),
    Scenario("tracing_cost", "tracing on vs off: /healthz and a cached read", tracing_cost.run),
    Scenario("cold_start", "cold_start", cold_start.run),
    Scenario("shutdown", "shutdown", shutdown.run),
    Scenario("redis_outage", "redis_outage", redis_outage.run),
    Scenario("mysql_outage", "mysql_outage", mysql_outage.run),
    Scenario("import_throughput", "import throughput: the queue vs POST /api/v1/items", import_throughput.run),
    Scenario("queue_latency", "queue latency: job created to task started", queue_latency.run),
    Scenario("worker_drills", "worker SIGTERM and SIGKILL under load", worker_drills.run),
    Scenario("offline", "offline render / unit tests", offline.run),
    # Builds take minutes and need buildah.
    Scenario("image", "image (bench/image.sh: real vs naive single-stage, cold/warm builds)", image.run, in_smoke=False),
)
NAMES = tuple(s.name for s in SCENARIOS)
