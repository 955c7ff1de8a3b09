"""What the network policies need to know of the pods: who listens on which port, and where the
backup pods must reach. Components hand these over; the policies never read their internals."""

from __future__ import annotations

from dataclasses import dataclass

from components.kube.conventions import PodSelector


@dataclass(frozen=True)
class NetworkPeer:
    """Pods (by label selector) that accept connections on `port`."""

    pod_selector: PodSelector
    port: int


@dataclass(frozen=True)
class ClientPods:
    """Pods that may call a server although they are none of the stack's own: those carrying
    `label`, in the stack's namespace or in one of `namespaces`."""

    label: dict[str, str]
    namespaces: list[str]


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


@dataclass(frozen=True)
class ServerAccess:
    """An in-cluster server as the policies see it: its pods and port, and its backup jobs' pods."""

    server: NetworkPeer
    backups: list[BackupPods]
