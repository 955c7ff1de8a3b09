"""The objects around a single-instance server run as a StatefulSet (MySQL, Redis): its
credentials and config file, its ServiceAccount, a headless and a client Service, the
StatefulSet, its disruption budget."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.config import Storage
from components.kube import conventions as kube
from components.kube.conventions import PodSelector
from components.kube.workloads import disruption_budget


@dataclass(frozen=True, kw_only=True)
class StatefulServer:
    name: str  # also the ServiceAccount's name, which `pod_spec` must run as
    namespace: pulumi.Input[str]
    labels: dict[str, str]
    selector: PodSelector
    port_name: str
    pod_port: int
    client_port: int
    config_text: str  # the server's config file, read at start: its checksum rolls the pod
    storage: Storage
    pod_spec: k8s.core.v1.PodSpecArgsDict
    protect: bool  # prod: a destroy or a replacing change stops here
    start_timeout: str | None = None  # how long Pulumi waits for a start; None: its default (10 minutes)


@dataclass(frozen=True)
class ServerFiles:
    """What a server's pod mounts: its credentials (a Secret) and its config file (a ConfigMap)."""

    secret: pulumi.Output[str]
    config: pulumi.Output[str]


def server_files(
    name: str,
    *,
    namespace: pulumi.Input[str],
    labels: dict[str, str],
    credentials: dict[str, pulumi.Input[str]],
    config: dict[str, str],
    parent: pulumi.Resource,
) -> ServerFiles:
    """The Secret `<name>-auth` (every value a secret, mounted as files: never env, never argv) and
    the ConfigMap `<name>-config` holding the server's config file."""
    child = pulumi.ResourceOptions(parent=parent)
    secret = k8s.core.v1.Secret(
        f"{name}-auth", metadata=kube.metadata(f"{name}-auth", namespace, labels), type="Opaque", string_data=credentials, opts=child
    )
    settings = k8s.core.v1.ConfigMap(f"{name}-config", metadata=kube.metadata(f"{name}-config", namespace, labels), data=config, opts=child)
    return ServerFiles(secret=secret.metadata.name, config=settings.metadata.name)


def single_instance_statefulset(server: StatefulServer, *, parent: pulumi.Resource) -> pulumi.Output[str]:
    """Create the server's objects under `parent`; return the client Service's DNS name, which
    resolves only once the StatefulSet is ready, so consumers wait for the server."""
    child = pulumi.ResourceOptions(parent=parent)
    name, namespace, labels = server.name, server.namespace, server.labels
    account = k8s.core.v1.ServiceAccount(
        name, metadata=kube.metadata(name, namespace, labels), automount_service_account_token=False, opts=child
    )
    headless = k8s.core.v1.Service(
        f"{name}-headless",
        metadata=kube.metadata(f"{name}-headless", namespace, labels),
        spec=_service_spec(server, headless=True),
        opts=child,
    )
    client_service = k8s.core.v1.Service(
        name, metadata=kube.metadata(name, namespace, labels), spec=_service_spec(server, headless=False), opts=child
    )
    statefulset = k8s.apps.v1.StatefulSet(
        name,
        metadata=kube.metadata(name, namespace, labels),
        spec={
            "serviceName": headless.metadata.name,
            "replicas": 1,
            "selector": {"matchLabels": server.selector},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": {
                "metadata": {"labels": labels, "annotations": {"checksum/config": hashlib.sha256(server.config_text.encode()).hexdigest()}},
                "spec": {**server.pod_spec, "serviceAccountName": account.metadata.name},
            },
            # Immutable: a change here replaces the StatefulSet. Keep the metadata minimal and stable.
            "volumeClaimTemplates": [_data_volume_claim(server.storage)],
        },
        opts=pulumi.ResourceOptions(
            parent=parent,
            protect=server.protect,
            custom_timeouts=pulumi.CustomTimeouts(create=server.start_timeout, update=server.start_timeout)
            if server.start_timeout
            else None,
        ),
    )
    disruption_budget(name, metadata=kube.metadata(name, namespace, labels), selector=server.selector, opts=child)
    return pulumi.Output.all(client_service.metadata.name, namespace, statefulset.metadata.name).apply(
        lambda parts: f"{parts[0]}.{parts[1]}.svc.cluster.local"
    )


def _service_spec(server: StatefulServer, *, headless: bool) -> k8s.core.v1.ServiceSpecArgsDict:
    """The headless governing Service, or the ClusterIP one clients use."""
    port = server.pod_port if headless else server.client_port
    ports: list[k8s.core.v1.ServicePortArgsDict] = [{"name": server.port_name, "port": port, "targetPort": server.port_name}]
    if headless:
        # The governing Service: the pod's DNS record exists while it starts.
        return {"clusterIP": "None", "publishNotReadyAddresses": True, "selector": server.selector, "ports": ports}
    return {"type": "ClusterIP", "selector": server.selector, "ports": ports}


def _data_volume_claim(storage: Storage) -> k8s.core.v1.PersistentVolumeClaimArgsDict:
    """The `data` volumeClaimTemplate. Immutable once deployed: see the config's storage.lock."""
    return {
        "metadata": {"name": "data"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": storage.class_name,
            "resources": {"requests": {"storage": storage.size}},
        },
    }
