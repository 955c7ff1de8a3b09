"""Driver connections to the testbed's MariaDB and Redis, for the bench's own reads, writes and flushes."""

from __future__ import annotations

import pymysql  # type: ignore[import-untyped]  # ships no type information
import redis

from bench.harness.servers import MariaDB, RedisServer

REDIS_TIMEOUT_S = 2


def mariadb_root(db: MariaDB, database: str) -> pymysql.connections.Connection:
    """As root over the server's private unix socket, autocommit."""
    return pymysql.connect(unix_socket=str(db.socket), user="root", database=database, autocommit=True)


def redis_client(server: RedisServer) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=server.port, password=server.password, socket_timeout=REDIS_TIMEOUT_S)
