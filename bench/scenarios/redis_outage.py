"""Redis killed under read load, then restarted on the same port: reads keep being answered
(from MariaDB) and cache hits come back."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.harness.client import create_item
from bench.harness.datastores import redis_client
from bench.harness.processes import kill_group
from bench.harness.testbed import Testbed
from bench.load.clients import ClientThreads

CLIENT_THREADS = 4
ITEMS_READ = 20
# The clients' lifetime beyond the outage: room for the restart and the wait for a hit.
LOAD_SLACK_S = 30
REDIS_EXIT_WAIT_S = 10
HIT_WAIT_S = 15
POLL_INTERVAL_S = 0.05
# Reads go on briefly after the first hit: failures right after the recovery count too.
AFTER_HIT_S = 0.5
STOP_WAIT_S = 30


@dataclass(frozen=True)
class Settings:
    load_before_kill_s: float
    down_s: float


FULL = Settings(load_before_kill_s=2.0, down_s=4.0)
SMOKE = Settings(load_before_kill_s=0.5, down_s=1.5)


def run(testbed: Testbed, smoke: bool) -> dict[str, Any]:
    s = SMOKE if smoke else FULL
    service = testbed.service()
    try:
        ids = [create_item(service.port, f"r{i}", i) for i in range(ITEMS_READ)]

        def read(thread: int, n: int) -> tuple[str, str, Any]:
            return "GET", f"/api/v1/items/{ids[(thread * 7 + n) % len(ids)]}", None

        with ClientThreads(service.port, CLIENT_THREADS, s.down_s + LOAD_SLACK_S, read) as load:
            time.sleep(s.load_before_kill_s)
            t_kill = load.now()
            _kill(testbed)
            time.sleep(s.down_s)
            testbed.redis.start()
            t_back = load.now()
            t_hit = _first_hit_after(load, t_back)
            time.sleep(AFTER_HIT_S)
        answered = load.answered()
        statuses = Counter(str(o.status) for o in answered)
        during = Counter(str(o.status) for o in answered if t_kill <= o.at <= t_back)
        errors = Counter(o.error for o in load.outcomes if o.kind in ("error", "refused"))
        return {
            "redis_down_s": t_back - t_kill,
            "statuses": dict(statuses),
            "statuses_during_outage": dict(during),
            "errors": dict(errors),
            "5xx": sum(n for status, n in statuses.items() if status.startswith("5")),
            "hits_resumed_after_s": None if t_hit is None else t_hit - t_back,
        }
    finally:
        if not testbed.redis.running:
            testbed.redis.start()
        kill_group(service.proc, signal.SIGTERM, STOP_WAIT_S)


def _kill(testbed: Testbed) -> None:
    """SIGKILL redis-server, so its clients get no goodbye, and wait until the launcher sees it gone.

    The launcher only stops servers politely; the pid comes from Redis itself.
    """
    with redis_client(testbed.redis) as r:
        pid = int(r.info("server")["process_id"])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + REDIS_EXIT_WAIT_S
    while testbed.redis.running:
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server (pid {pid}) still running {REDIS_EXIT_WAIT_S} s after SIGKILL")
        time.sleep(POLL_INTERVAL_S)


def _first_hit_after(load: ClientThreads, since: float) -> float | None:
    """Load time of the first `X-Cache: hit` sent after `since`; None within HIT_WAIT_S."""
    deadline = time.monotonic() + HIT_WAIT_S
    while time.monotonic() < deadline:
        hits = [o.at for o in load.snapshot() if o.kind == "status" and o.at > since and o.cache == "hit"]
        if hits:
            return min(hits)
        time.sleep(POLL_INTERVAL_S)
    return None
