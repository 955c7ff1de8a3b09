"""The worker's liveness: a file it touches while it runs, and the check of its age.

The kubelet's exec probe runs ``python -m service worker-alive``, which reads the file's age and
nothing else: no broker round trip (``celery inspect`` would make one per probe, and fail on a
broker outage, restarting healthy workers). The file is touched by a thread of the worker's main
process from start until the end of its warm shutdown, so a worker finishing its tasks after
SIGTERM still reads as alive, and a process that is gone or frozen stops touching it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger("service.jobs.heartbeat")

# Touches per max age: the file stays fresh through two missed touches.
TOUCHES_PER_MAX_AGE = 3


def heartbeat_age(path: Path, now: float | None = None) -> float | None:
    """Seconds since `path` was last touched; None when it does not exist or cannot be read."""
    try:
        modified = os.stat(path).st_mtime
    except OSError:
        return None
    return (time.time() if now is None else now) - modified


class HeartbeatFile:
    """Touches `path` every `max_age` / TOUCHES_PER_MAX_AGE seconds from a daemon thread, until stopped."""

    def __init__(self, path: Path, max_age_seconds: float) -> None:
        self.path = path
        self.interval = max_age_seconds / TOUCHES_PER_MAX_AGE
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def start(self) -> None:
        self._touch()
        self._thread = threading.Thread(target=self._run, name="heartbeat-file", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop touching and remove the file: a stopped worker is not alive."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval + 1)
        self.path.unlink(missing_ok=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._touch()

    def _touch(self) -> None:
        try:
            self.path.touch()
        except OSError as exc:
            if not self._failing:  # once per failure streak, not every interval
                log.error("heartbeat file not writable", extra={"path": str(self.path), "error": type(exc).__name__})
            self._failing = True
        else:
            self._failing = False
