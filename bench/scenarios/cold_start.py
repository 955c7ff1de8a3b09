"""Cold start: exec of `python -m service` to its first 200 on /readyz, and the first requests after it.

The app's venv is compiled to bytecode first (Testbed.start), as the image is: without .pyc files
every start compiles the sources again (the machine's PYTHONDONTWRITEBYTECODE keeps them unwritten).
Right after each start, an uncached read, a create and a cached read, each on a new connection,
then the same three once more: whatever the service leaves for its first requests to do shows up
as the difference.
"""

from __future__ import annotations

import json
import signal
import statistics
import time
from typing import Any

from bench.harness import items
from bench.harness.client import request
from bench.harness.processes import kill_group
from bench.harness.testbed import Testbed

FULL_RUNS = 5
SMOKE_RUNS = 1
STOP_WAIT_S = 30
REQUESTS = ("uncached_read", "create", "cached_read")


def run(testbed: Testbed, smoke: bool) -> dict[str, Any]:
    times = []
    first: list[dict[str, float]] = []
    again: list[dict[str, float]] = []
    for _ in range(SMOKE_RUNS if smoke else FULL_RUNS):
        uncached = [items.insert_uncached(testbed, 1)[0] for _ in range(2)]  # before the start: Redis never saw them
        service = testbed.service()
        try:
            times.append(service.ready_s)
            first.append(_requests(service.port, uncached[0]))
            again.append(_requests(service.port, uncached[1]))
        finally:
            kill_group(service.proc, signal.SIGTERM, STOP_WAIT_S)
    slowest_first = [max(r.values()) for r in first]
    return {
        "seconds": times,
        "median_s": statistics.median(times),
        "first_requests_ms": first,
        "again_ms": again,
        "first_slowest_ms": slowest_first,
        "first_slowest_median_ms": statistics.median(slowest_first),
        "again_slowest_median_ms": statistics.median(max(r.values()) for r in again),
    }


def _requests(port: int, uncached_id: int) -> dict[str, float]:
    """Milliseconds of an uncached read, a create and a cached read (of the item created), each checked."""
    out: dict[str, float] = {}
    out["uncached_read"], _ = _timed(port, "GET", f"/api/v1/items/{uncached_id}", None, 200)
    out["create"], body = _timed(port, "POST", "/api/v1/items", {"name": "cold start", "quantity": 1}, 201)
    out["cached_read"], _ = _timed(port, "GET", f"/api/v1/items/{json.loads(body)['id']}", None, 200)
    return out


def _timed(port: int, method: str, path: str, body: Any, want: int) -> tuple[float, bytes]:
    start = time.perf_counter()
    status, _, data = request(port, method, path, body)
    elapsed_ms = round((time.perf_counter() - start) * 1000, 2)
    if status != want:
        raise RuntimeError(f"{method} {path} answered {status}, not {want}: {data[:200]!r}")
    return elapsed_ms, data
