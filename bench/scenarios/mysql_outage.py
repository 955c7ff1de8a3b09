"""MariaDB stopped under create load, then started: /readyz says 503 while it is down and 200 soon
after it is back; every acknowledged create is in the table afterwards."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.harness import items
from bench.harness.client import request
from bench.harness.processes import kill_group
from bench.harness.testbed import Testbed
from bench.load.clients import ClientThreads

CLIENT_THREADS = 4
LOAD_MAX_S = 90
READYZ_INTERVAL_S = 0.1
READYZ_TIMEOUT_S = 5
READYZ_MAX_POLLS = 5000
READY_WAIT_S = 15
POLL_INTERVAL_S = 0.05
POLLER_JOIN_S = 10
# /readyz answers within its probe timeout (PROBE_TIMEOUT_SECONDS in app/src/service/api/health.py):
# one stamped sooner after the stop may come from a probe begun while MariaDB still answered.
PROBE_TIMEOUT_S = 1.0
STOP_WAIT_S = 30


@dataclass(frozen=True)
class Settings:
    load_before_stop_s: float
    down_s: float
    load_after_ready_s: float


FULL = Settings(load_before_stop_s=2.0, down_s=4.0, load_after_ready_s=2.0)
SMOKE = Settings(load_before_stop_s=0.5, down_s=1.5, load_after_ready_s=0.5)


def run(testbed: Testbed, smoke: bool) -> dict[str, Any]:
    s = SMOKE if smoke else FULL
    service = testbed.service()
    try:
        ready: list[tuple[float, int | str]] = []  # (load time of the answer, status or exception name)
        stop = threading.Event()
        body = {"name": "outage", "quantity": 2}
        with ClientThreads(service.port, CLIENT_THREADS, LOAD_MAX_S, lambda _thread, _n: ("POST", "/api/v1/items", body)) as load:

            def poll_readyz() -> None:
                n = 0
                while not stop.is_set() and n < READYZ_MAX_POLLS:
                    n += 1
                    try:
                        status = request(service.port, "GET", "/readyz", auth=False, timeout=READYZ_TIMEOUT_S)[0]
                        ready.append((load.now(), status))  # stamped on the answer
                    except Exception as exc:
                        ready.append((load.now(), type(exc).__name__))
                    time.sleep(READYZ_INTERVAL_S)

            poller = threading.Thread(target=poll_readyz, daemon=True)
            poller.start()
            time.sleep(s.load_before_stop_s)
            t_stop = load.now()
            testbed.db.stop()  # SIGTERM, waits for the exit
            t_down = load.now()
            time.sleep(s.down_s)
            t_restart = load.now()
            testbed.db.start()
            t_back = load.now()
            t_ready = _first_200_after(ready, t_back)
            time.sleep(s.load_after_ready_s)
            stop.set()
            poller.join(POLLER_JOIN_S)
        answered = load.answered()
        statuses = Counter(str(o.status) for o in answered)
        errors = Counter(o.error for o in load.outcomes if o.kind in ("error", "refused"))
        acked = [json.loads(o.body)["id"] for o in answered if o.status == 201 and o.body is not None]
        outage = [status for t, status in ready if t_down + PROBE_TIMEOUT_S <= t <= t_restart]
        return {
            "db_stopping_s": t_down - t_stop,
            "db_down_s": t_back - t_down,
            "create_statuses": dict(statuses),
            "create_errors": dict(errors),
            "readyz_during_outage": dict(Counter(str(status) for status in outage)),
            "readyz_200_after_s": None if t_ready is None else t_ready - t_back,
            "acked_creates": len(acked),
            "lost_creates": items.count_missing(testbed, acked),
        }
    finally:
        if not testbed.db.running:
            testbed.db.start()
        kill_group(service.proc, signal.SIGTERM, STOP_WAIT_S)


def _first_200_after(ready: list[tuple[float, int | str]], since: float) -> float | None:
    """Load time of the first /readyz 200 stamped after `since`; None within READY_WAIT_S."""
    deadline = time.monotonic() + READY_WAIT_S
    while time.monotonic() < deadline:
        ok = [t for t, status in list(ready) if t > since and status == 200]
        if ok:
            return min(ok)
        time.sleep(POLL_INTERVAL_S)
    return None
