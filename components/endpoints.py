"""What components hand each other: connection endpoints, pod selectors and network peers, never internals."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.config import MySqlConfig, RedisConfig

# The labels that pick a workload's pods (a Deployment's or StatefulSet's selector).
PodSelector = dict[str, str]


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


@dataclass(frozen=True)
class NetworkPeer:
    """Pods (by label selector) that accept connections on `port`."""

    pod_selector: PodSelector
    port: int


@dataclass(frozen=True)
class S3Endpoint:
    """An object store's address, as a NetworkPolicy must name it."""

    host: str
    port: int


@dataclass(frozen=True)
class BackupPods:
    """A backup job's pods: the server they snapshot, and the off-site repository if there is one."""

    pod_selector: PodSelector
    server: NetworkPeer
    s3: S3Endpoint | None


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
