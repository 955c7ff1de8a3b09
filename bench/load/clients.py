"""Client threads for the drills: each request on a fresh connection, every outcome timestamped."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from bench.harness.client import HTTP_TIMEOUT_S, request

# (thread index, request number) -> (method, path, JSON body or None)
RequestMaker = Callable[[int, int], tuple[str, str, Any]]

MAX_REQUESTS_PER_THREAD = 100_000
# A refused connect returns at once; without a pause the thread would spin on a closed port.
REFUSED_PAUSE_S = 0.01


@dataclass(frozen=True)
class Outcome:
    at: float  # seconds from the load's start to the request's send
    kind: Literal["status", "refused", "error"]
    status: int | None = None
    cache: str | None = None  # the X-Cache header
    body: bytes | None = None  # kept for 201s only: the created id
    error: str | None = None  # the exception's type name


class ClientThreads:
    """`threads` clients sending `make_request`'s requests until stopped, or `max_seconds` at most."""

    def __init__(self, port: int, threads: int, max_seconds: float, make_request: RequestMaker) -> None:
        self.port, self.make_request = port, make_request
        self.stop_event = threading.Event()
        self.deadline = time.monotonic() + max_seconds
        self.lock = threading.Lock()
        self.outcomes: list[Outcome] = []
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]
        self.t0 = time.monotonic()

    def _run(self, idx: int) -> None:
        n = 0
        while not self.stop_event.is_set() and time.monotonic() < self.deadline and n < MAX_REQUESTS_PER_THREAD:
            n += 1
            method, path, body = self.make_request(idx, n)
            at = self.now()
            try:
                status, headers, data = request(self.port, method, path, body)
                outcome = Outcome(at, "status", status=status, cache=headers.get("x-cache"), body=data if status == 201 else None)
            except ConnectionRefusedError:
                outcome = Outcome(at, "refused")
                time.sleep(REFUSED_PAUSE_S)
            except Exception as exc:  # every other failure counts
                outcome = Outcome(at, "error", error=type(exc).__name__)
            with self.lock:
                self.outcomes.append(outcome)

    def __enter__(self) -> ClientThreads:
        for th in self.threads:
            th.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop_event.set()
        for th in self.threads:
            th.join(HTTP_TIMEOUT_S + 5)

    def now(self) -> float:
        """Seconds since the load started (the clock of every Outcome.at)."""
        return time.monotonic() - self.t0

    def snapshot(self) -> list[Outcome]:
        """The outcomes so far, safe to read while the threads run."""
        with self.lock:
            return list(self.outcomes)

    def answered(self) -> list[Outcome]:
        """Outcomes with an HTTP status."""
        return [o for o in self.outcomes if o.kind == "status"]
