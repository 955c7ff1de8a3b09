"""A real, throwaway MariaDB server for tests: its own data directory, a free 127.0.0.1 port."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

START_TIMEOUT_SECONDS = 60.0


def _binary(name: str) -> str | None:
    # mariadbd lives in /usr/sbin, which is not on every user's PATH.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")


def require_binaries(*names: str) -> dict[str, str]:
    """The binaries' paths; skip the test without them, except in CI, where that is a failure."""
    found = {name: _binary(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        reason = f"needs {', '.join(missing)} (Debian: apt-get install mariadb-server mariadb-client)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return {name: path for name, path in found.items() if path is not None}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class MariaDb:
    """A running server; `sql()` runs statements as the unix-socket root user."""

    def __init__(self, base: Path, client: str) -> None:
        self.base = base
        self.port = _free_port()
        self.socket = base / "mysqld.sock"
        self._client = client

    def sql(self, statements: str, database: str | None = None) -> str:
        command = [
            self._client,
            "--no-defaults",
            f"--socket={self.socket}",
            "--user=root",
            "--default-character-set=utf8mb4",
            "--batch",
            "--skip-column-names",
        ]
        if database:
            command.append(f"--database={database}")
        done = subprocess.run([*command, f"--execute={statements}"], capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"SQL failed: {statements}\n{done.stderr}")
        return done.stdout


@contextmanager
def mariadb_server(base: Path) -> Iterator[MariaDb]:
    binaries = require_binaries("mariadbd", "mariadb-install-db", "mariadb", "mariadb-dump")
    data = base / "data"
    user = getpass.getuser()
    subprocess.run(
        [
            binaries["mariadb-install-db"],
            "--no-defaults",
            f"--datadir={data}",
            f"--user={user}",
            "--skip-test-db",
            "--auth-root-authentication-method=socket",
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    server = MariaDb(base, binaries["mariadb"])
    log = base / "server.log"
    command = [
        binaries["mariadbd"],
        "--no-defaults",
        f"--datadir={data}",
        f"--socket={server.socket}",
        f"--port={server.port}",
        "--bind-address=127.0.0.1",
        f"--pid-file={base / 'mysqld.pid'}",
        f"--log-error={log}",
        f"--user={user}",
        "--skip-name-resolve",
    ]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as process:
        try:
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while not _accepts(server):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mariadbd did not start:\n{log.read_text() if log.exists() else ''}")
                time.sleep(0.1)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _accepts(server: MariaDb) -> bool:
    try:
        server.sql("SELECT 1")
    except RuntimeError:
        return False
    return True
