"""What every workload gets from components/kube/workloads.py, whichever component it belongs to:
the same rollout, disruption budget, autoscaler behaviour and spread (the API and the worker alike)."""

from __future__ import annotations

from typing import Any

from components.config import StackConfig
from offline.engine import RecordedResource, StackRun
from tests.support.objects import pod_labels, pod_spec, selects


def _deployments(run: StackRun) -> dict[str, RecordedResource]:
    return {resource.outputs["metadata"]["name"]: resource for resource in run.find("Deployment")}


def _budgets_of(run: StackRun, deployment: RecordedResource) -> list[dict[str, Any]]:
    labels = pod_labels(deployment)
    return [
        budget.inputs["spec"]
        for budget in run.find("PodDisruptionBudget")
        if selects(budget.inputs["spec"]["selector"]["matchLabels"], labels)
    ]


def _autoscaler_of(run: StackRun, name: str) -> dict[str, Any] | None:
    found = [hpa.inputs["spec"] for hpa in run.find("HorizontalPodAutoscaler") if hpa.inputs["spec"]["scaleTargetRef"]["name"] == name]
    return found[0] if found else None


def test_every_deployment_rolls_out_without_losing_a_pod(stack_run: StackRun) -> None:
    for name, deployment in _deployments(stack_run).items():
        assert deployment.inputs["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}, (
            name
        )


def test_a_deployment_with_pods_to_spare_has_one_budget_allowing_one_down(stack_run: StackRun) -> None:
    for name, deployment in _deployments(stack_run).items():
        budgets = _budgets_of(stack_run, deployment)
        spare = deployment.inputs["spec"]["replicas"] >= 2 or _autoscaler_of(stack_run, name) is not None
        assert [budget["maxUnavailable"] for budget in budgets] == ([1] if spare else []), name


def test_every_autoscaler_scales_in_slowly_and_owns_the_replica_count(stack_run: StackRun) -> None:
    deployments = _deployments(stack_run)
    for hpa in stack_run.find("HorizontalPodAutoscaler"):
        spec = hpa.inputs["spec"]
        assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300, hpa.name
        assert spec["behavior"]["scaleDown"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 60}]
        target = deployments[spec["scaleTargetRef"]["name"]]
        assert "spec.replicas" in target.ignore_changes, f"Pulumi would fight the HPA over {target.name}'s replicas"


def test_pods_spread_across_nodes_where_the_stack_asks(stack_run: StackRun, stack_config: StackConfig) -> None:
    wanted = {"api": stack_config.app.topology_spread, "worker": stack_config.worker.topology_spread}
    for name, deployment in _deployments(stack_run).items():
        constraints = pod_spec(deployment).get("topologySpreadConstraints", [])
        assert bool(constraints) == wanted[name], name
        for constraint in constraints:
            assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"  # never Pending for want of a node
            assert selects(constraint["labelSelector"]["matchLabels"], pod_labels(deployment))


def test_prod_spreads_and_autoscales_every_deployment(prod_run: StackRun) -> None:
    for name, deployment in _deployments(prod_run).items():
        assert pod_spec(deployment).get("topologySpreadConstraints"), name
        assert _autoscaler_of(prod_run, name) is not None, name
