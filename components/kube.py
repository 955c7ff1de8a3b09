"""Conventions every Kubernetes object in the stack follows: labels, the restricted pod profile,
and the objects around a single-instance StatefulSet (MySQL and Redis)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.config import Storage

PART_OF = "fastapi-service"

# Numeric, >= 10000 (checkov CKV_K8S_40), and not any uid an image ships with: the kubelet
# can only verify runAsNonRoot for numeric users.
NON_ROOT_UID = 10001


def labels(name: str, instance: str, component: str) -> dict[str, str]:
    """The recommended app.kubernetes.io labels; `name` + `instance` select a workload's pods."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def selector(name: str, instance: str) -> dict[str, str]:
    """The immutable part of a workload's labels (a Deployment/StatefulSet selector can't change)."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": instance}


def pod_security(uid: int = NON_ROOT_UID) -> k8s.core.v1.PodSecurityContextArgsDict:
    """Pod Security 'restricted': non-root numeric user, RuntimeDefault seccomp, fsGroup for volumes."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> k8s.core.v1.SecurityContextArgsDict:
    """Per container, what 'restricted' demands explicitly, plus a read-only root filesystem."""
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def tmp_volume(name: str = "tmp", size: str = "64Mi") -> k8s.core.v1.VolumeArgsDict:
    """A bounded, memory-free scratch directory for a read-only root filesystem."""
    return {"name": name, "emptyDir": {"sizeLimit": size}}


def metadata(name: str, namespace: pulumi.Input[str], object_labels: dict[str, str]) -> k8s.meta.v1.ObjectMetaArgsDict:
    return {"name": name, "namespace": namespace, "labels": object_labels}


def stateful_service_spec(selector: dict[str, str], port_name: str, port: int, *, headless: bool) -> k8s.core.v1.ServiceSpecArgsDict:
    """A StatefulSet's Services: the headless governing one, or the ClusterIP one clients use."""
    ports: list[k8s.core.v1.ServicePortArgsDict] = [{"name": port_name, "port": port, "targetPort": port_name}]
    if headless:
        # The governing Service: the pod's DNS record exists while it starts.
        return {"clusterIP": "None", "publishNotReadyAddresses": True, "selector": selector, "ports": ports}
    return {"type": "ClusterIP", "selector": selector, "ports": ports}


def single_replica_disruption_budget(selector: dict[str, str]) -> k8s.policy.v1.PodDisruptionBudgetSpecArgsDict:
    # One replica: minAvailable 1 (or maxUnavailable 0) would block every node drain forever.
    # maxUnavailable 1 lets a drain evict it, one voluntary disruption at a time.
    return {"maxUnavailable": 1, "selector": {"matchLabels": selector}}


def data_volume_claim(storage: Storage) -> k8s.core.v1.PersistentVolumeClaimArgsDict:
    """The `data` volumeClaimTemplate. Immutable once deployed: see config Storage.lock."""
    return {
        "metadata": {"name": "data"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": storage.class_name,
            "resources": {"requests": {"storage": storage.size}},
        },
    }


@dataclass(frozen=True)
class StatefulServer:
    """A single-instance server run as a StatefulSet: what its objects need besides the pod spec."""

    name: str
    namespace: pulumi.Input[str]
    labels: dict[str, str]
    selector: dict[str, str]
    port_name: str
    pod_port: int
    client_port: int
    config_text: str  # the server's config file, read at start: its checksum rolls the pod
    storage: Storage


def single_instance_statefulset(
    server: StatefulServer,
    pod_spec: Callable[[pulumi.Output[str]], k8s.core.v1.PodSpecArgsDict],
    *,
    child: pulumi.ResourceOptions,
    statefulset_opts: pulumi.ResourceOptions,
) -> pulumi.Output[str]:
    """ServiceAccount, headless and client Services, the StatefulSet and its disruption budget.

    ``pod_spec`` gets the ServiceAccount's name. Returns the client Service's DNS name, which
    depends on the StatefulSet, so consumers wait until the server is ready.
    """
    name, namespace, labels = server.name, server.namespace, server.labels
    account = k8s.core.v1.ServiceAccount(
        name, metadata=metadata(name, namespace, labels), automount_service_account_token=False, opts=child
    )
    headless = k8s.core.v1.Service(
        f"{name}-headless",
        metadata=metadata(f"{name}-headless", namespace, labels),
        spec=stateful_service_spec(server.selector, server.port_name, server.pod_port, headless=True),
        opts=child,
    )
    client_service = k8s.core.v1.Service(
        name,
        metadata=metadata(name, namespace, labels),
        spec=stateful_service_spec(server.selector, server.port_name, server.client_port, headless=False),
        opts=child,
    )
    checksum = hashlib.sha256(server.config_text.encode()).hexdigest()
    statefulset = k8s.apps.v1.StatefulSet(
        name,
        metadata=metadata(name, namespace, labels),
        spec={
            "serviceName": headless.metadata.name,
            "replicas": 1,
            "selector": {"matchLabels": server.selector},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": {
                "metadata": {"labels": labels, "annotations": {"checksum/config": checksum}},
                "spec": pod_spec(account.metadata.name),
            },
            # Immutable: a change here replaces the StatefulSet. Keep the metadata minimal and stable.
            "volumeClaimTemplates": [data_volume_claim(server.storage)],
        },
        opts=statefulset_opts,
    )
    k8s.policy.v1.PodDisruptionBudget(
        name,
        metadata=metadata(name, namespace, labels),
        spec=single_replica_disruption_budget(server.selector),
        opts=child,
    )
    return pulumi.Output.all(client_service.metadata.name, namespace, statefulset.metadata.name).apply(
        lambda parts: f"{parts[0]}.{parts[1]}.svc.cluster.local"
    )
