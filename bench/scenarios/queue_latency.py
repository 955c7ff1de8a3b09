"""Queue latency: from a job's creation in the API (just before its task is published) to the
task's start in the worker (the job claimed), for one-item imports sent one at a time to an idle
worker. Both instants are the service's own timestamps on the job (`created_at`, `started_at`).
"""

from __future__ import annotations

import signal
import statistics
import time
from dataclasses import dataclass
from typing import Any

from bench.harness import imports
from bench.harness.client import start_import
from bench.harness.processes import kill_group
from bench.harness.testbed import Testbed

FINISH_WAIT_S = 120
STOP_WAIT_S = 60


@dataclass(frozen=True)
class Settings:
    samples: int
    gap_s: float  # between posts: each task finds the worker idle


FULL = Settings(samples=300, gap_s=0.05)
SMOKE = Settings(samples=40, gap_s=0.05)


def run(testbed: Testbed, smoke: bool) -> dict[str, Any]:
    s = SMOKE if smoke else FULL
    service = testbed.service()
    worker = testbed.worker()
    try:
        start_import(service.port, imports.items("lat-warmup", 1))  # the pool's first connection to MariaDB
        ids = []
        for n in range(s.samples):
            ids.append(start_import(service.port, imports.items(f"lat-{n}", 1)))
            time.sleep(s.gap_s)
        done = imports.wait_finished(testbed, ids, FINISH_WAIT_S)
    finally:
        kill_group(worker.proc, signal.SIGTERM, STOP_WAIT_S)
        kill_group(service.proc, signal.SIGTERM, STOP_WAIT_S)
    latencies = sorted((job.started_at - job.created_at).total_seconds() for job in done.values() if job.started_at is not None)
    if len(latencies) != s.samples:
        raise RuntimeError(f"{s.samples - len(latencies)} of {s.samples} tasks never started")
    return {
        "samples": len(latencies),
        "p50_ms": 1000 * _quantile(latencies, 0.50),
        "p99_ms": 1000 * _quantile(latencies, 0.99),
        "max_ms": 1000 * latencies[-1],
        "mean_ms": 1000 * statistics.fmean(latencies),
    }


def _quantile(ordered: list[float], q: float) -> float:
    """The nearest-rank quantile of an ordered sample."""
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]
