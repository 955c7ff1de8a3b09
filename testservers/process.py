"""What every test server shares: a free 127.0.0.1 port, finding its binaries, and a process that
starts in a directory of its own, waits (bounded) until it answers, and stops for sure."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import HTTPServer
from pathlib import Path
from typing import ClassVar, TypeVar

# Generous: a cold InnoDB start on a busy 2-core machine takes several seconds.
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0
INSTALL_DB_TIMEOUT_SECONDS = 120.0
SQL_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.05
# `make test` installs them (scripts/system-packages.sh); a bare pytest names the command.
INSTALL_HINT = "Debian: apt-get install mariadb-server redis-server busybox"


class MissingBinaryError(FileNotFoundError):
    """A server binary is not installed; the message names it and how to install it."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


Server = TypeVar("Server", bound=HTTPServer)


@contextmanager
def serving(server: Server, name: str) -> Iterator[Server]:
    """An in-process HTTP server (already bound) answering in a thread of its own until the block ends."""
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=STOP_TIMEOUT_SECONDS)


def find_binary(name: str) -> str | None:
    # mariadbd lives in /usr/sbin, which is not on every user's PATH.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")


def binaries(names: tuple[str, ...]) -> dict[str, str]:
    found = {name: find_binary(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise MissingBinaryError(f"{', '.join(missing)} not found ({INSTALL_HINT})")
    return {name: path for name, path in found.items() if path is not None}


class ServerProcess:
    """A server process in `base`, logging there, ready when `is_ready()` says so."""

    name: ClassVar[str] = "server"

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.log_path = base / f"{self.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server (again) and wait until it answers; a no-op while it runs."""
        if self.running:
            return
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.base)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.tail()}")
            if self.is_ready():
                return
            time.sleep(POLL_SECONDS)
        self.stop()
        raise RuntimeError(f"{self.name} not ready within {START_TIMEOUT_SECONDS} s:\n{self.tail()}")

    def stop(self) -> None:
        """SIGTERM, and SIGKILL if it has not exited within STOP_TIMEOUT_SECONDS; returns once it has exited."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_SECONDS)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# A cold SeaweedFS build takes ~15 min on 2 busy cores (scripts/s3/README.md); restic ~1 min.
BUILD_TIMEOUT_SECONDS = 45 * 60
REPOSITORY_ROOT = Path(__file__).resolve().parents[1]


def built_by(script: Path, what: str) -> Path:
    """The bin directory `script` prints last (building on first use), or MissingBinaryError."""
    try:
        done = subprocess.run([str(script)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise MissingBinaryError(f"{what}: {script} did not finish: {error}") from error
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise MissingBinaryError(f"{what} could not be built by {script} (exit {done.returncode}):\n{done.stderr[-1500:]}")
    return Path(lines[-1])
