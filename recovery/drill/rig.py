"""The drill's frame: its clock and log (`Drill`), the one-line failure of a step (`DrillError`), the
servers it runs and what every backup and restore uses (`Rig`, `Sources`)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from components.config import Retention
from testservers import MariaDB, RedisServer, ServerProcess
from testservers.backup import Repository, dump_mysql, snapshot_redis
from testservers.restic import PodShell
from testservers.s3 import S3Server

DATABASE = "app"
RESTIC_HOST = "drill"  # restic's --host: a stack's name in the cluster
REPOSITORY_PATH = "drill"
# Each step's bound on this machine is far below these; they stop a hung tool, not a slow one.
DUMP_TIMEOUT_SECONDS = 600
T = TypeVar("T")
Server = TypeVar("Server", bound=ServerProcess)


class DrillError(Exception):
    """A step that failed or found a difference; reported as one line naming the step."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step


class Drill:
    """The drill's clock, its progress log and the figures measured so far."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.report: dict[str, Any] = {"ok": False, "started_at": datetime.now(UTC).isoformat(timespec="seconds")}

    def log(self, message: str) -> None:
        now = datetime.now(UTC).strftime("%H:%M:%S")
        print(f"[backup-drill {now} +{time.monotonic() - self.started:5.1f}s] {message}", file=sys.stderr, flush=True)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Log the step's start and end; an expected failure inside becomes a DrillError naming it."""
        self.log(f"{name} ...")
        started = time.monotonic()
        try:
            yield
        except DrillError:
            raise
        except (OSError, RuntimeError, ValueError, subprocess.TimeoutExpired) as error:
            # OSError includes MissingBinaryError; RuntimeError, a server that did not start or a failed SQL statement.
            raise DrillError(name, one_line(error)) from error
        self.log(f"{name}: done in {time.monotonic() - started:.1f} s")

    def timed(self, action: Callable[[], T]) -> tuple[T, float]:
        started = time.monotonic()
        result = action()
        return result, round(time.monotonic() - started, 2)


def one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = " | ".join(lines[-3:]) if lines else type(error).__name__
    return text[:600]


def failed(done: subprocess.CompletedProcess[str], what: str) -> NoReturn:
    raise RuntimeError(f"{what} exited {done.returncode}: {one_line(RuntimeError(done.stderr))}")


@contextmanager
def running(server: Server) -> Iterator[Server]:
    """Start `server` and stop it (its own process, TERM then KILL) on exit, however the drill ended."""
    try:
        server.start()
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class Rig:
    """What every backup and restore of the drill uses."""

    shell: PodShell
    restic: str
    repository: Repository
    s3: S3Server
    retention: Retention
    scratch: Path

    def private_file(self, name: str, text: str) -> Path:
        path = self.scratch / "secrets" / name
        path.write_text(text)
        path.chmod(0o600)
        return path


@dataclass(frozen=True)
class Sources:
    """The servers backed up, and the files their backup jobs log in with."""

    db: MariaDB
    cache: RedisServer
    option_file: Path  # the MySQL client option file, as the Secret mounts it
    redis_password_file: Path

    def dump(self, output: Path) -> subprocess.CompletedProcess[str]:
        return dump_mysql(self.db.port, self.option_file, output, DATABASE, timeout=DUMP_TIMEOUT_SECONDS)

    def snapshot(self, output: Path) -> subprocess.CompletedProcess[str]:
        return snapshot_redis(self.cache.port, self.redis_password_file, output, timeout=DUMP_TIMEOUT_SECONDS)


def new_directory(scratch: Path, name: str) -> Path:
    path = scratch / name
    path.mkdir()
    return path
