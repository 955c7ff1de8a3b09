"""SIGTERM under load: accepted requests all answered, acknowledged creates all stored, exit in time.

Clients open a fresh connection per request, so every drill has connects racing the close: a
refused connect is not an accepted request, any other failure after a connect is.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import items
from bench.harness.processes import kill_group
from bench.harness.testbed import Testbed
from bench.load.clients import ClientThreads
from bench.targets import SHUTDOWN_GRACE_S, SHUTDOWN_JUDGED_VARIANT

CLIENT_THREADS = 8
# INFO, the deployed level: the access log's work widens the window a handshake can be in flight.
LOG_LEVEL = "INFO"
# As in the pod: every capability dropped.
DROP_CAPABILITIES = ("setpriv", "--inh-caps=-all", "--bounding-set=-all", "--")
# The service's drain (take the accept queue, close, serve what was taken), and stock uvicorn
# beside it for comparison: the targets hold the first; the second shows what they guard against.
# Bounds beyond the grace period: the wait for the exit, and the clients' lifetime.
EXIT_WAIT_SLACK_S = 10
# After the exit, requests in flight at that moment finish (refused or failed) before the load stops.
SETTLE_S = 0.3
DRAIN_LOG_KEYS = ("msg", "connections", "error")
ERROR_TIMES_KEPT = 20


@dataclass(frozen=True)
class Settings:
    drills: int  # per variant
    load_before_sigterm_s: float


FULL = Settings(drills=3, load_before_sigterm_s=3.0)
SMOKE = Settings(drills=1, load_before_sigterm_s=1.0)


def variants() -> dict[str, tuple[tuple[str, ...], dict[str, str]]]:
    """Variant name -> (the wrapper the service runs under, its extra environment)."""
    prefix = DROP_CAPABILITIES if os.geteuid() == 0 else ()
    return {SHUTDOWN_JUDGED_VARIANT: (prefix, {}), "stock uvicorn": (prefix, {"GRACEFUL_DRAIN": "false"})}


def run(testbed: Testbed, smoke: bool) -> dict[str, Any]:
    s = SMOKE if smoke else FULL
    results: dict[str, Any] = {}
    for name, (prefix, env) in variants().items():
        drills = [_drill(testbed, s, prefix, env) for _ in range(s.drills)]
        results[name] = {
            "drills": len(drills),
            "failed_accepted": sum(d["failed_accepted"] for d in drills),
            "drills_with_failures": sum(1 for d in drills if d["failed_accepted"]),
            "lost_creates": sum(d["lost_creates"] for d in drills),
            "max_exit_s": max(d["exit_s"] for d in drills),
            "all_exited": all(d["exit_code"] is not None for d in drills),
            "runs": drills,
        }
    return {"grace_period_s": SHUTDOWN_GRACE_S, "log_level": LOG_LEVEL, "variants": results}


def _drill(testbed: Testbed, s: Settings, prefix: tuple[str, ...], env: dict[str, str]) -> dict[str, Any]:
    grace = SHUTDOWN_GRACE_S
    service = testbed.service(prefix, GRACEFUL_SHUTDOWN_TIMEOUT=str(grace), LOG_LEVEL=LOG_LEVEL, **env)
    body = {"name": "shutdown", "quantity": 1}

    def create_or_healthz(_thread: int, n: int) -> tuple[str, str, Any]:
        return ("POST", "/api/v1/items", body) if n % 2 else ("GET", "/healthz", None)

    lifetime = s.load_before_sigterm_s + grace + EXIT_WAIT_SLACK_S
    with ClientThreads(service.port, CLIENT_THREADS, lifetime, create_or_healthz) as load:
        time.sleep(s.load_before_sigterm_s)
        t_term = load.now()
        os.killpg(service.proc.pid, signal.SIGTERM)
        try:
            rc: int | None = service.proc.wait(grace + EXIT_WAIT_SLACK_S)
        except subprocess.TimeoutExpired:
            rc = None
        exit_s = load.now() - t_term
        time.sleep(SETTLE_S)
    kill_group(service.proc)
    outcomes = load.outcomes
    answered = load.answered()
    statuses = Counter(str(o.status) for o in answered)
    errors = Counter(o.error for o in outcomes if o.kind == "error")
    error_times = sorted(round(o.at - t_term, 3) for o in outcomes if o.kind == "error")
    refused = sum(1 for o in outcomes if o.kind == "refused")
    failed = sum(errors.values()) + sum(n for status, n in statuses.items() if status.startswith("5"))
    acked = [json.loads(o.body)["id"] for o in answered if o.status == 201 and o.body is not None]
    return {
        "exit_code": rc,
        "exit_s": exit_s,
        "statuses": dict(statuses),
        "errors": dict(errors),
        "error_started_s_after_sigterm": error_times[:ERROR_TIMES_KEPT],
        "refused_after_close": refused,
        "failed_accepted": failed,
        "acked_creates": len(acked),
        "lost_creates": items.count_missing(testbed, acked),
        "drain": _drain_record(service.log),
    }


def _drain_record(log: Path) -> dict[str, Any]:
    """The service's "listen queue drained" log entry (connections taken)."""
    for line in log.read_text(errors="replace").splitlines():
        if '"listen queue' in line:
            entry = json.loads(line)
            return {k: v for k, v in entry.items() if k in DRAIN_LOG_KEYS}
    return {}
