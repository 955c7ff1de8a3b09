"""Cold start: exec of `python -m service` to its first 200 on /readyz."""

from __future__ import annotations

import signal
import statistics
from typing import Any

from bench.harness.processes import kill_group
from bench.harness.testbed import Testbed

FULL_RUNS = 5
SMOKE_RUNS = 1
STOP_WAIT_S = 30


def run(testbed: Testbed, smoke: bool) -> dict[str, Any]:
    times = []
    for _ in range(SMOKE_RUNS if smoke else FULL_RUNS):
        service = testbed.service()
        times.append(service.ready_s)
        kill_group(service.proc, signal.SIGTERM, STOP_WAIT_S)
    return {"seconds": times, "median_s": statistics.median(times)}
