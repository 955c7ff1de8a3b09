"""The worker stopped under load, then a new one started: every import the API accepted must end
succeeded, with each of its items inserted exactly once.

- SIGTERM (the kubelet's stop) to the worker's main process: Celery's warm shutdown finishes the
  running tasks and hands back those it had reserved. The drain time and whether the tasks running
  at SIGTERM had finished when it exited are recorded.
- SIGKILL to every process of the worker (a pod killed): the tasks it had taken stay
  unacknowledged and the broker hands them out again after the visibility timeout, short here.

Client threads keep posting imports throughout (before the signal, while no worker runs); the
imports insert 2 items per transaction, so the signal finds tasks mid-way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.harness import imports
from bench.harness.client import start_import
from bench.harness.processes import kill_group
from bench.harness.testbed import Testbed

POST_THREADS = 2
ITEMS_PER_IMPORT = 100
POST_PAUSE_S = 0.25
# Slow tasks (one transaction per 2 items) and short limits: a SIGKILLed worker's tasks come back
# after the visibility timeout, which must exceed the task time limit.
WORKER_SETTINGS = {
    "IMPORT_BATCH_SIZE": "2",
    "TASK_SOFT_TIME_LIMIT_SECONDS": "4",
    "TASK_TIME_LIMIT_SECONDS": "5",
    "BROKER_VISIBILITY_TIMEOUT_SECONDS": "6",
}
RUNNING_WAIT_S = 30
EXIT_WAIT_S = 60
FINISH_WAIT_S = 120
STOP_WAIT_S = 60
POLL_S = 0.02


@dataclass(frozen=True)
class Settings:
    drills: int  # per signal
    load_before_signal_s: float
    load_without_worker_s: float


FULL = Settings(drills=3, load_before_signal_s=2.0, load_without_worker_s=1.0)
SMOKE = Settings(drills=1, load_before_signal_s=1.0, load_without_worker_s=0.5)
SIGNALS = {"sigterm": signal.SIGTERM, "sigkill": signal.SIGKILL}


def run(testbed: Testbed, smoke: bool) -> dict[str, Any]:
    s = SMOKE if smoke else FULL
    service = testbed.service()
    try:
        results: dict[str, Any] = {}
        for name, sig in SIGNALS.items():
            drills = [_drill(testbed, service.port, s, sig, f"{name}{n}") for n in range(s.drills)]
            results[name] = {
                "drills": len(drills),
                "accepted": sum(d["accepted"] for d in drills),
                "lost": sum(d["lost"] for d in drills),
                "duplicated_items": sum(d["duplicated_items"] for d in drills),
                "missing_items": sum(d["missing_items"] for d in drills),
                "redelivered": sum(d["redelivered"] for d in drills),
                "runs": drills,
            }
        return {"items_per_import": ITEMS_PER_IMPORT, "worker_settings": WORKER_SETTINGS, "signals": results}
    finally:
        kill_group(service.proc, signal.SIGTERM, STOP_WAIT_S)


class _Posters:
    """Threads posting imports until stopped; the accepted job ids and the refused posts."""

    def __init__(self, port: int, prefix: str) -> None:
        self.port, self.prefix = port, prefix
        self.accepted: list[int] = []
        self.refused: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self._post, args=(t,), daemon=True) for t in range(POST_THREADS)]

    def _post(self, thread: int) -> None:
        n = 0
        while not self.stop_event.is_set():
            n += 1
            try:
                job_id = start_import(self.port, imports.items(f"{self.prefix}-{thread}-{n}", ITEMS_PER_IMPORT))
                with self.lock:
                    self.accepted.append(job_id)
            except Exception as exc:  # every refusal is counted (the API does not depend on the worker)
                with self.lock:
                    self.refused[type(exc).__name__] += 1
            time.sleep(POST_PAUSE_S)

    def __enter__(self) -> _Posters:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(STOP_WAIT_S)


def _drill(testbed: Testbed, port: int, s: Settings, sig: int, prefix: str) -> dict[str, Any]:
    first = testbed.worker(**WORKER_SETTINGS)
    with _Posters(port, prefix) as posters:
        time.sleep(s.load_before_signal_s)
        _wait_running(testbed, posters)
        with posters.lock:
            running_at_signal = imports.running(testbed, list(posters.accepted))
        t_signal = time.monotonic()
        if sig == signal.SIGKILL:
            os.killpg(first.proc.pid, signal.SIGKILL)  # the whole pod: pool processes too
        else:
            first.proc.send_signal(sig)  # the kubelet signals the container's main process
        try:
            exit_code: int | None = first.proc.wait(EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            exit_code = None
        exit_s = time.monotonic() - t_signal
        kill_group(first.proc)  # anything left of it
        at_exit = imports.jobs(testbed, running_at_signal)
        time.sleep(s.load_without_worker_s)
    second = testbed.worker(**WORKER_SETTINGS)
    try:
        done = imports.wait_finished(testbed, posters.accepted, FINISH_WAIT_S)
    finally:
        kill_group(second.proc, signal.SIGTERM, STOP_WAIT_S)
    rows = imports.name_counts(testbed, f"{prefix}-")
    succeeded = [job_id for job_id, job in done.items() if job.state == "succeeded"]
    return {
        "accepted": len(posters.accepted),
        "refused_posts": dict(posters.refused),
        "exit_code": exit_code,
        "exit_s": exit_s,
        "running_at_signal": len(running_at_signal),
        "running_at_signal_finished_at_exit": sum(1 for job in at_exit.values() if job.state == "succeeded"),
        "lost": len(posters.accepted) - len(succeeded),
        "redelivered": sum(1 for job in done.values() if job.attempts > 1),
        "duplicated_items": sum(n - 1 for n in rows.values() if n > 1),
        "missing_items": len(succeeded) * ITEMS_PER_IMPORT - len(rows),
    }


def _wait_running(testbed: Testbed, posters: _Posters) -> None:
    """Until a task is mid-way (bounded): the signal must find work in progress."""
    deadline = time.monotonic() + RUNNING_WAIT_S
    while time.monotonic() < deadline:
        with posters.lock:
            accepted = list(posters.accepted)
        if imports.running(testbed, accepted):
            return
        time.sleep(POLL_S)
