"""A real, throwaway MariaDB: its own data directory, root over a private unix socket, a user over TCP.

with mariadb_server(tmp_path) as db:          # MissingBinaryError without the binaries
    db.setup_user()                           # db.user / db.password over TCP on db.port
    db.create_database("app")
    db.sql("SELECT 1", "app")                 # as root over the private unix socket
"""

from __future__ import annotations

import getpass
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from testservers.process import INSTALL_DB_TIMEOUT_SECONDS, SQL_TIMEOUT_SECONDS, ServerProcess, binaries

_IDENTIFIER = re.compile(r"\w{1,64}")


class MariaDB(ServerProcess):
    """mariadbd with its own data directory: root over a private unix socket, `user` over TCP."""

    name = "mariadb"
    BINARIES: ClassVar[tuple[str, ...]] = ("mariadbd", "mariadb-install-db", "mariadb")
    user = "service"

    def __init__(self, base: Path) -> None:
        super().__init__(base)
        self._binaries = binaries(self.BINARIES)
        self.datadir = base / "data"
        self.socket = base / "mysqld.sock"
        self.password = "db-" + os.urandom(16).hex()
        # mariadbd refuses to run as root unless told to.
        self._run_as = [f"--user={getpass.getuser()}"] if os.geteuid() == 0 else []
        installed = subprocess.run(
            [
                self._binaries["mariadb-install-db"],
                "--no-defaults",
                f"--datadir={self.datadir}",
                # root without a password, reachable only through the socket in this private directory.
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
                *self._run_as,
            ],
            capture_output=True,
            text=True,
            timeout=INSTALL_DB_TIMEOUT_SECONDS,
            check=False,
        )
        if installed.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed:\n{installed.stdout}{installed.stderr}")

    def command(self) -> list[str]:
        return [
            self._binaries["mariadbd"],
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--socket={self.socket}",
            f"--pid-file={self.base / 'mysqld.pid'}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            "--skip-networking=0",
            "--skip-name-resolve",
            "--skip-log-bin",
            # Test data is disposable: trade durability for speed.
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=16M",
            "--max-connections=200",
            *self._run_as,
        ]

    def is_ready(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            self.sql("SELECT 1")
        except RuntimeError:
            return False
        return True

    def sql(self, statements: str, database: str | None = None) -> str:
        """Run `statements` (`;`-separated) as root; tab-separated rows, no header. RuntimeError on failure."""
        command = [
            self._binaries["mariadb"],
            "--no-defaults",
            f"--socket={self.socket}",
            "--user=root",
            "--default-character-set=utf8mb4",
            "--batch",
            "--skip-column-names",
        ]
        if database:
            command.append(f"--database={database}")
        done = subprocess.run(
            [*command, f"--execute={statements}"], capture_output=True, text=True, timeout=SQL_TIMEOUT_SECONDS, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"SQL failed: {statements}\n{done.stderr}")
        return done.stdout

    def setup_user(self) -> None:
        """`user` identified by `password` from 127.0.0.1, with every privilege (it creates databases)."""
        # Both are this class's own values (a fixed name, a hex password): nothing to escape.
        self.sql(
            f"CREATE USER IF NOT EXISTS '{self.user}'@'127.0.0.1' IDENTIFIED BY '{self.password}';"
            f" GRANT ALL PRIVILEGES ON *.* TO '{self.user}'@'127.0.0.1'"
        )

    def create_database(self, name: str) -> None:
        """An empty utf8mb4 database `name`, replacing any of that name."""
        if not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"not a plain database name: {name!r}")
        self.sql(f"DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET utf8mb4")


@contextmanager
def mariadb_server(base: Path) -> Iterator[MariaDB]:
    """A started MariaDB in `base`, stopped on exit; MissingBinaryError (naming the package) without it."""
    server = MariaDB(base)
    server.start()
    try:
        yield server
    finally:
        server.stop()
