"""How the app reaches its servers: an in-cluster component's endpoint, or one outside the cluster."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.config import MySqlConfig, RedisConfig


@dataclass(frozen=True)
class DatabaseEndpoint:
    host: pulumi.Input[str]
    port: int
    database: str
    user: str
    password: pulumi.Output[str]  # always a secret Output


@dataclass(frozen=True)
class CacheEndpoint:
    host: pulumi.Input[str]
    port: int
    password: pulumi.Output[str]  # always a secret Output


def external_database(config: MySqlConfig, password: pulumi.Output[str] | None) -> DatabaseEndpoint:
    """A MySQL server outside the cluster: the stack only connects to it."""
    # The config rules require both in external mode.
    assert config.host is not None
    assert password is not None
    return DatabaseEndpoint(config.host, config.port, config.database, config.user, pulumi.Output.secret(password))


def external_cache(config: RedisConfig, password: pulumi.Output[str] | None) -> CacheEndpoint:
    """A Redis server outside the cluster: the stack only connects to it."""
    # The config rules require both in external mode.
    assert config.host is not None
    assert password is not None
    return CacheEndpoint(config.host, config.port, pulumi.Output.secret(password))
