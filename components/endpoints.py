"""What components hand each other: connection endpoints and network peers, never internals."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


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

    pod_selector: dict[str, str]
    port: int
