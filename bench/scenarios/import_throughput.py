"""Import throughput: items/s into the items table through the queue (POST /api/v1/imports, the
worker inserting in batches) against the same inserts through the API directly (POST
/api/v1/items, one item per request, from concurrent client threads, a new connection each).

Both paths on the same service, MariaDB and 2 cores; the worker as deployed by default (prefork,
one process per CPU, IMPORT_BATCH_SIZE 100). Queue: first POST to the last job seen succeeded in
the table. Direct: first POST to the last 201.
"""

from __future__ import annotations

import signal
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

from bench.harness import imports
from bench.harness.client import request, start_import
from bench.harness.memory import rss_mib, tree_rss_mib
from bench.harness.processes import kill_group
from bench.harness.testbed import Testbed

DIRECT_THREADS = 8
FINISH_WAIT_S = 300
STOP_WAIT_S = 60


@dataclass(frozen=True)
class Settings:
    items: int  # per path and repetition
    jobs: int  # the queue path's items in this many imports
    repetitions: int


FULL = Settings(items=5000, jobs=5, repetitions=3)
SMOKE = Settings(items=600, jobs=3, repetitions=1)


def run(testbed: Testbed, smoke: bool) -> dict[str, Any]:
    s = SMOKE if smoke else FULL
    service = testbed.service()
    worker = testbed.worker()
    try:
        rss_at_rest = {"api": rss_mib(service.proc.pid), "worker": tree_rss_mib(worker.proc.pid)}
        runs = []
        for rep in range(s.repetitions):
            queue = _through_queue(testbed, service.port, s, f"tq{rep}")
            direct = _direct(testbed, service.port, s.items, f"td{rep}")
            runs.append({"queue": queue, "direct": direct, "ratio": queue["items_per_s"] / direct["items_per_s"]})
        return {
            "items": s.items,
            "queue_jobs": s.jobs,
            "direct_threads": DIRECT_THREADS,
            "queue_items_per_s": statistics.median(r["queue"]["items_per_s"] for r in runs),
            "direct_items_per_s": statistics.median(r["direct"]["items_per_s"] for r in runs),
            "ratio": statistics.median(r["ratio"] for r in runs),
            "ratio_runs": [r["ratio"] for r in runs],
            "runs": runs,
            "rss_mib": {
                "at_rest": rss_at_rest,
                "after_load": {"api": rss_mib(service.proc.pid), "worker": tree_rss_mib(worker.proc.pid)},
            },
        }
    finally:
        kill_group(worker.proc, signal.SIGTERM, STOP_WAIT_S)
        kill_group(service.proc, signal.SIGTERM, STOP_WAIT_S)


def _through_queue(testbed: Testbed, port: int, s: Settings, prefix: str) -> dict[str, Any]:
    per_job = s.items // s.jobs
    start = time.monotonic()
    ids = [start_import(port, imports.items(f"{prefix}-{j}", per_job)) for j in range(s.jobs)]
    accepted_s = time.monotonic() - start
    done = imports.wait_finished(testbed, ids, FINISH_WAIT_S)
    elapsed = time.monotonic() - start
    if {job.state for job in done.values()} != {"succeeded"} or len(done) != len(ids):
        raise RuntimeError(f"imports not all succeeded within {FINISH_WAIT_S} s: {done}")
    rows = sum(imports.name_counts(testbed, f"{prefix}-").values())
    return {
        "items_per_s": per_job * s.jobs / elapsed,
        "seconds": elapsed,
        "posts_s": accepted_s,
        "rows": rows,
        "rows_expected": per_job * s.jobs,
    }


def _direct(testbed: Testbed, port: int, count: int, prefix: str) -> dict[str, Any]:
    next_item = iter(range(count))
    lock = threading.Lock()
    failures: list[str] = []

    def post_items() -> None:
        while True:
            with lock:
                i = next(next_item, None)
            if i is None:
                return
            try:
                status = request(port, "POST", "/api/v1/items", {"name": f"{prefix}-{i}", "quantity": i})[0]
                if status != 201:
                    failures.append(str(status))
            except OSError as exc:
                failures.append(type(exc).__name__)

    threads = [threading.Thread(target=post_items, daemon=True) for _ in range(DIRECT_THREADS)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(FINISH_WAIT_S)
    elapsed = time.monotonic() - start
    return {
        "items_per_s": count / elapsed,
        "seconds": elapsed,
        "failed_requests": len(failures),
        "rows": sum(imports.name_counts(testbed, f"{prefix}-").values()),
    }
