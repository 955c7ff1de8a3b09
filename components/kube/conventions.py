"""Conventions every Kubernetes object in the stack follows: labels, metadata, the restricted pod profile."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

PART_OF = "fastapi-service"

# The labels that pick a workload's pods (a Deployment's or StatefulSet's selector).
PodSelector = dict[str, str]

# On every object: Pulumi's server-side apply takes back the fields it declares when someone else
# changed them (`kubectl edit`, `kubectl set image`), so `pulumi up --refresh` restores the declared
# state instead of stopping at a field-manager conflict. Fields the stack does not declare, and
# those it leaves to another owner (spec.replicas under an HPA: ignore_changes), are not touched.
OWNED_ANNOTATIONS = {"pulumi.com/patchForce": "true"}

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


def selector(name: str, instance: str) -> PodSelector:
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


def metadata(name: pulumi.Input[str] | None, namespace: pulumi.Input[str], object_labels: dict[str, str]) -> k8s.meta.v1.ObjectMetaArgsDict:
    """An object's metadata; `name` None lets Pulumi name it (`<resource name>-<suffix>`), so a
    changed object is created beside the old one before the old one goes."""
    named: k8s.meta.v1.ObjectMetaArgsDict = {"namespace": namespace, "labels": object_labels, "annotations": dict(OWNED_ANNOTATIONS)}
    if name is not None:
        named["name"] = name
    return named
