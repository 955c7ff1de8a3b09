"""A real, throwaway Redis with a password, and a minimal RESP2 client (no driver needed).

with redis_server(tmp_path) as cache:
    with cache.client() as client:            # RESP over TCP, authenticated, pipelined
        client.pipeline([("SET", "k", "v"), ("EXPIRE", "k", 60)])
    cache.keyspace()                          # every key's type, value and expiry
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import ClassVar

from testservers.process import SQL_TIMEOUT_SECONDS, ServerProcess, binaries

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
        self._binary = binaries(self.BINARIES)["redis-server"]
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
def redis_server(base: Path, *, append_only: bool = False) -> Iterator[RedisServer]:
    """A started Redis in `base`, stopped on exit; MissingBinaryError (naming the package) without it."""
    server = RedisServer(base, append_only=append_only)
    server.start()
    try:
        yield server
    finally:
        server.stop()
