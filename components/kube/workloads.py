"""What every workload of the stack shares, written once: how it rolls out, how many of its pods
a voluntary disruption may take, how it scales, where its pods spread, how it is probed, and the
checksums that roll it when its settings change."""

from __future__ import annotations

import hashlib
import json

import pulumi
import pulumi_kubernetes as k8s

from components.config import Autoscaling
from components.kube.conventions import PodSelector


def surge_rollout() -> k8s.apps.v1.DeploymentStrategyArgsDict:
    """A new pod is Ready before an old one stops: capacity never drops during a rollout."""
    return {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}


def replicas_owned_elsewhere(autoscaling: Autoscaling) -> list[str] | None:
    """The Deployment fields Pulumi must leave alone: the replica count, once an HPA owns it."""
    return ["spec.replicas"] if autoscaling.enabled else None


def scaling_and_disruption(
    name: str,
    *,
    metadata: k8s.meta.v1.ObjectMetaArgsDict,
    deployment: pulumi.Input[str],
    selector: PodSelector,
    replicas: int,
    autoscaling: Autoscaling,
    opts: pulumi.ResourceOptions,
) -> None:
    """A Deployment's HorizontalPodAutoscaler (when autoscaling) and its PodDisruptionBudget (when
    it runs more than one pod): the API and the worker get the same behaviour from here."""
    if autoscaling.enabled:
        k8s.autoscaling.v2.HorizontalPodAutoscaler(name, metadata=metadata, spec=_autoscaler_spec(autoscaling, deployment), opts=opts)
    if replicas >= 2 or autoscaling.enabled:
        disruption_budget(name, metadata=metadata, selector=selector, opts=opts)


def disruption_budget(
    name: str, *, metadata: k8s.meta.v1.ObjectMetaArgsDict, selector: PodSelector, opts: pulumi.ResourceOptions
) -> k8s.policy.v1.PodDisruptionBudget:
    """At most one of the pods down by a voluntary disruption (a node drain) at a time.

    maxUnavailable, not minAvailable: for a single instance (MySQL, Redis) minAvailable 1 (or
    maxUnavailable 0) would block every node drain forever, while maxUnavailable 1 lets a drain
    evict it; for replicated pods it keeps all but one serving.
    """
    return k8s.policy.v1.PodDisruptionBudget(
        name, metadata=metadata, spec={"maxUnavailable": 1, "selector": {"matchLabels": selector}}, opts=opts
    )


def _autoscaler_spec(scaling: Autoscaling, deployment: pulumi.Input[str]) -> k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgsDict:
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "minReplicas": scaling.min_replicas,
        "maxReplicas": scaling.max_replicas,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": scaling.target_cpu_utilization}},
            }
        ],
        # Scale in slowly: a traffic dip shouldn't drop capacity the next burst needs.
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}},
    }


def topology_spread(selector: PodSelector) -> list[k8s.core.v1.TopologySpreadConstraintArgsDict]:
    """Spread the pods across nodes and zones. ScheduleAnyway: spread when the cluster allows it,
    never leave a pod Pending for it."""
    return [
        {"maxSkew": 1, "topologyKey": topology_key, "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": selector}}
        for topology_key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
    ]


def exec_probe(command: list[str], *, period: int, failures: int, timeout: int) -> k8s.core.v1.ProbeArgsDict:
    return {"exec": {"command": command}, "periodSeconds": period, "timeoutSeconds": timeout, "failureThreshold": failures}


def http_probe(path: str, *, port: str, period: int, failures: int, timeout: int) -> k8s.core.v1.ProbeArgsDict:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period, "timeoutSeconds": timeout, "failureThreshold": failures}


def checksum(data: dict[str, pulumi.Input[str]]) -> pulumi.Output[str]:
    """A digest of settings or secret files: in a pod template's annotations, a change rolls the pods."""
    return pulumi.Output.all(**data).apply(lambda values: hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest())
