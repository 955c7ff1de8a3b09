"""The tests' world: settings that point the service at the private servers, and the servers'
contents read and written directly, around the service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pymysql
import redis

from service.config import Settings, load_settings
from testservers import MariaDB, RedisServer

API_KEY = "test-key-" + "a" * 32
SECOND_API_KEY = "test-key-" + "b" * 32
TEST_DB = "service_test"


def make_settings(mariadb: MariaDB, redis_server: RedisServer, secrets_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "app_env": "test",
        "db_host": "127.0.0.1",
        "db_port": mariadb.port,
        "db_name": TEST_DB,
        "db_user": mariadb.user,
        "db_password": mariadb.password,
        "db_pool_timeout": 2,
        "redis_host": "127.0.0.1",
        "redis_port": redis_server.port,
        "redis_password": redis_server.password,
        "api_keys": f"{API_KEY},{SECOND_API_KEY}",
        "secrets_dir": str(secrets_dir),
    }
    values.update(overrides)
    return load_settings(**values)


def database(mariadb: MariaDB, name: str = TEST_DB) -> pymysql.connections.Connection:
    """A root connection to database `name`, through the server's private socket, autocommitting."""
    return pymysql.connect(unix_socket=str(mariadb.socket), user="root", database=name, autocommit=True)


def redis_client(redis_server: RedisServer) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=redis_server.port, password=redis_server.password, socket_timeout=2)
