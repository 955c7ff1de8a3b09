"""Real, throwaway MariaDB and Redis servers for the tests and the bench.

Each server lives in a directory of its own and listens on a free 127.0.0.1 port; it can be
stopped and started again (outage tests), and every wait is bounded. The standard library and
pytest only, so the infra tests (the repository's venv) and the app's tests and bench (app/.venv)
share this one launcher; drivers (pymysql, redis-py) are the callers' business.

    with mariadb_server(tmp_path) as db:          # skips without the binaries (fails with CI=true)
        db.setup_user()                           # db.user / db.password over TCP on db.port
        db.create_database("app")
        db.sql("SELECT 1", "app")                 # as root over the private unix socket

    with redis_server(tmp_path) as cache:
        with cache.client() as client:            # RESP over TCP, authenticated, pipelined
            client.pipeline([("SET", "k", "v"), ("EXPIRE", "k", 60)])
        cache.keyspace()                          # every key's type, value and expiry
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import ClassVar

import pytest

__all__ = [
    "MariaDB",
    "MissingBinaryError",
    "RedisClient",
    "RedisReplyError",
    "RedisServer",
    "RespValue",
    "ServerProcess",
    "find_binary",
    "free_port",
    "mariadb_server",
    "redis_server",
    "require_binaries",
]

# Generous: a cold InnoDB start on a busy 2-core machine takes several seconds.
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0
INSTALL_DB_TIMEOUT_SECONDS = 120.0
SQL_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.05
INSTALL_HINT = "Debian: apt-get install mariadb-server redis-server"
_IDENTIFIER = re.compile(r"\w{1,64}")


class MissingBinaryError(FileNotFoundError):
    """A server binary is not installed; the message names it and how to install it."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def find_binary(name: str) -> str | None:
    # mariadbd lives in /usr/sbin, which is not on every user's PATH.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")


def _binaries(names: tuple[str, ...]) -> dict[str, str]:
    found = {name: find_binary(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise MissingBinaryError(f"{', '.join(missing)} not found ({INSTALL_HINT})")
    return {name: path for name, path in found.items() if path is not None}


def require_binaries(*names: str) -> dict[str, str]:
    """The binaries' paths. Without one, the test is skipped; with CI=true it fails instead."""
    try:
        return _binaries(names)
    except MissingBinaryError as missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {missing}", pytrace=False)
        pytest.skip(str(missing))


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


class MariaDB(ServerProcess):
    """mariadbd with its own data directory: root over a private unix socket, `user` over TCP."""

    name = "mariadb"
    BINARIES: ClassVar[tuple[str, ...]] = ("mariadbd", "mariadb-install-db", "mariadb")
    user = "service"

    def __init__(self, base: Path) -> None:
        super().__init__(base)
        self._binaries = _binaries(self.BINARIES)
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


RespValue = bytes | int | list["RespValue"] | None
RedisArgument = bytes | str | int | float


class RedisReplyError(RuntimeError):
    """Redis answered a command with an error reply."""


class RedisClient:
    """A minimal RESP2 client over one authenticated TCP connection: enough for tests to load and
    read a dataset (pipelined), without a driver in either virtualenv."""

    def __init__(self, port: int, password: str, timeout: float = SQL_TIMEOUT_SECONDS) -> None:
        self._socket = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._reader = self._socket.makefile("rb")
        try:
            self.call("AUTH", password)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> RedisClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._reader.close()
        self._socket.close()

    def call(self, *command: RedisArgument) -> RespValue:
        return self.pipeline([command])[0]

    def pipeline(self, commands: Iterable[Sequence[RedisArgument]], batch: int = 1000) -> list[RespValue]:
        """Send `commands` in batches, each batch's replies read before the next is sent.

        Every reply is read before an error reply raises RedisReplyError, so the connection stays usable.
        """
        replies: list[RespValue] = []
        errors: list[str] = []
        pending: list[bytes] = []
        for command in commands:
            pending.append(_encode(command))
            if len(pending) >= batch:
                replies += self._round_trip(pending, errors)
                pending = []
        if pending:
            replies += self._round_trip(pending, errors)
        if errors:
            raise RedisReplyError(f"{len(errors)} command(s) failed, first: {errors[0]}")
        return replies

    def _round_trip(self, encoded: list[bytes], errors: list[str]) -> list[RespValue]:
        self._socket.sendall(b"".join(encoded))
        return [self._read(errors) for _ in encoded]

    def _read(self, errors: list[str]) -> RespValue:
        line = self._reader.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            errors.append(rest.decode(errors="replace"))
            return None
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self._reader.read(size + 2)[:-2]
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self._read(errors) for _ in range(size)]
        raise ConnectionError(f"not a RESP2 reply: {line[:40]!r}")


def _encode(command: Sequence[RedisArgument]) -> bytes:
    parts = [part if isinstance(part, bytes) else str(part).encode() for part in command]
    return b"".join([f"*{len(parts)}\r\n".encode(), *(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)])


class RedisServer(ServerProcess):
    """redis-server with a password; no RDB saves, and an append-only file only if asked for.

    A `dump.rdb` (or an `appendonlydir/`, with `append_only`) placed in `base` before `start()`
    is loaded at start: how a restored snapshot is brought up.
    """

    name = "redis"
    BINARIES: ClassVar[tuple[str, ...]] = ("redis-server",)

    def __init__(self, base: Path, *, append_only: bool = False) -> None:
        super().__init__(base)
        self._binary = _binaries(self.BINARIES)["redis-server"]
        self.password = "redis-" + os.urandom(16).hex()
        self.append_only = append_only

    def command(self) -> list[str]:
        return [
            self._binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "yes" if self.append_only else "no",
            "--dir", str(self.base),
            "--requirepass", self.password,
            "--daemonize", "no",
        ]  # fmt: skip

    def is_ready(self) -> bool:
        # AUTH then PING in the protocol's inline form: no client library needed. While Redis
        # loads a dataset, PING answers -LOADING: not ready yet.
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(f"AUTH {self.password}\r\nPING\r\n".encode())
                answer = b""
                while answer.count(b"\r\n") < 2 and (chunk := connection.recv(1024)):
                    answer += chunk
        except OSError:
            return False
        return answer == b"+OK\r\n+PONG\r\n"

    def client(self) -> RedisClient:
        """A connection to this server (close it, or use it as a context manager)."""
        return RedisClient(self.port, self.password)

    def keyspace(self) -> dict[bytes, tuple[bytes, object, int]]:
        """Every key of database 0: its type, its value as plain data, and its absolute expiry in
        unix milliseconds (-1: none). Two servers holding the same data give equal results."""
        with self.client() as client:
            keys: set[bytes] = set()
            cursor = b"0"
            while True:
                reply = client.call("SCAN", cursor, "COUNT", 1000)
                if not (isinstance(reply, list) and len(reply) == 2 and isinstance(reply[1], list)):
                    raise TypeError(f"unexpected SCAN reply: {reply!r}")
                cursor = _bulk(reply[0])
                keys.update(_bulk(key) for key in reply[1])
                if cursor == b"0":
                    break
            names = sorted(keys)
            types = [_bulk(kind) for kind in client.pipeline([("TYPE", key) for key in names])]
            values = client.pipeline([_READ[kind](key) for key, kind in zip(names, types, strict=True)])
            expiries = client.pipeline([("PEXPIRETIME", key) for key in names])
        return {
            key: (kind, _plain(kind, value), _integer(expiry))
            for key, kind, value, expiry in zip(names, types, values, expiries, strict=True)
        }


# How keyspace() reads each type whole.
_READ: dict[bytes, Callable[[bytes], tuple[RedisArgument, ...]]] = {
    b"string": lambda key: ("GET", key),
    b"hash": lambda key: ("HGETALL", key),
    b"list": lambda key: ("LRANGE", key, 0, -1),
    b"set": lambda key: ("SMEMBERS", key),
    b"zset": lambda key: ("ZRANGE", key, 0, -1, "WITHSCORES"),
    b"stream": lambda key: ("XRANGE", key, "-", "+"),
}


def _bulk(value: RespValue) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"expected a bulk string from redis, got {value!r}")
    return value


def _integer(value: RespValue) -> int:
    if not isinstance(value, int):
        raise TypeError(f"expected an integer from redis, got {value!r}")
    return value


def _plain(kind: bytes, value: RespValue) -> object:
    """A value as comparable data: order kept where Redis keeps it (list, zset, stream), not for sets and hashes."""
    if not isinstance(value, list):
        return value
    if kind == b"set":
        return frozenset(_bulk(member) for member in value)
    if kind == b"hash":
        fields = [_bulk(item) for item in value]
        return dict(zip(fields[::2], fields[1::2], strict=True))
    return _tuples(value)


def _tuples(value: RespValue) -> object:
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


@contextmanager
def mariadb_server(base: Path) -> Iterator[MariaDB]:
    """A started MariaDB in `base`, stopped on exit. Skips the test without the binaries (CI=true: fails)."""
    require_binaries(*MariaDB.BINARIES)
    server = MariaDB(base)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def redis_server(base: Path, *, append_only: bool = False) -> Iterator[RedisServer]:
    """A started Redis in `base`, stopped on exit. Skips the test without the binary (CI=true: fails)."""
    require_binaries(*RedisServer.BINARIES)
    server = RedisServer(base, append_only=append_only)
    server.start()
    try:
        yield server
    finally:
        server.stop()
