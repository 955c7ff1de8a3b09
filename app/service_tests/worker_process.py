"""``python -m service worker`` in a process group of its own against the private servers, its
secrets as files (as Kubernetes mounts them), its output in a file, ready once it logs so."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from service.jobs.worker import READY_MESSAGE
from service_tests.cli import service_env
from service_tests.process import server_settings, write_secrets
from testservers import MariaDB, RedisServer

READY_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.05


class WorkerProcess:
    def __init__(self, process: subprocess.Popen[bytes], log: Path, env: dict[str, str]) -> None:
        self.process = process
        self.log = log
        self.env = env

    @property
    def heartbeat_file(self) -> Path:
        return Path(self.env["WORKER_HEARTBEAT_FILE"])

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.env['WORKER_METRICS_PORT']}/metrics"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def log_entries(self) -> list[dict[str, Any]]:
        """Its JSON log lines (Celery writes a few plain ones, e.g. "worker: Warm shutdown")."""
        return [json.loads(line) for line in self.output().splitlines() if line.startswith("{")]

    def pool_processes(self) -> list[int]:
        """The pids of its prefork pool's processes."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [int(child) for child in children]

    def stop(self, timeout: float = 60) -> tuple[int, str]:
        """SIGTERM to the worker (its main process, as the kubelet sends it), then its exit status and output."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout), self.output()

    def kill(self) -> None:
        """SIGKILL to every process of the worker (its group, pool included), as when its pod is killed."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@contextmanager
def running_worker(
    mariadb: MariaDB, redis_server: RedisServer, directory: Path, **settings: str
) -> Iterator[WorkerProcess]:
    """The worker, ready (it logged READY_MESSAGE); its whole process group killed on exit if still up.

    Secrets in `directory`/secrets, output in `directory`/worker-<n>.log, heartbeat file in
    `directory`; no metrics server unless `settings` give WORKER_METRICS_PORT.
    """
    secrets_dir = write_secrets(mariadb, redis_server, directory)
    log = _next_log(directory)
    values = {
        **server_settings(mariadb, redis_server),
        "worker_concurrency": "2",
        "worker_heartbeat_file": str(directory / f"{log.stem}.heartbeat"),
        "worker_metrics_port": "0",
    }
    env = service_env(secrets_dir, **{**values, **settings})
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "worker"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its pool's processes in its group, to be killed with it
        )
    worker = WorkerProcess(process, log, env)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while READY_MESSAGE not in worker.output():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"worker not ready (exit status {process.poll()}): {worker.output()}")
            time.sleep(POLL_SECONDS)
        yield worker
    finally:
        worker.kill()  # also pool processes a main process that exited may have left behind


def _next_log(directory: Path) -> Path:
    """worker-1.log, worker-2.log, ...: a restarted worker keeps the first one's output apart."""
    n = 1
    while (directory / f"worker-{n}.log").exists():
        n += 1
    return directory / f"worker-{n}.log"
