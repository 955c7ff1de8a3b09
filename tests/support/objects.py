"""Reading objects out of a recorded stack run: a component's objects, a workload's pod spec and labels."""

from __future__ import annotations

from typing import Any

from offline.engine import RecordedResource, StackRun
from policy import rules

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "Job", "CronJob"})


def descendants(run: StackRun, component_type: str) -> list[RecordedResource]:
    """Every resource below the component of `component_type` (none when the stack has none), at any depth."""
    below = {component.urn for component in run.of_type(component_type)}
    assert len(below) <= 1, f"more than one {component_type}"
    found = []
    for resource in run.resources:  # registration order: parents come before children
        if resource.parent in below:
            below.add(resource.urn)
            found.append(resource)
    return found


def kubernetes_objects(run: StackRun, component_type: str) -> list[RecordedResource]:
    return [resource for resource in descendants(run, component_type) if resource.is_kubernetes_object]


def statefulset(objects: list[RecordedResource]) -> dict[str, Any]:
    """The inputs of the one StatefulSet among `objects`."""
    (found,) = [resource for resource in objects if resource.kind == "StatefulSet"]
    inputs: dict[str, Any] = found.inputs
    return inputs


def statefulset_container(objects: list[RecordedResource]) -> dict[str, Any]:
    (found,) = [resource for resource in objects if resource.kind == "StatefulSet"]
    (container,) = pod_spec(found)["containers"]
    result: dict[str, Any] = container
    return result


def pod_spec(resource: RecordedResource) -> dict[str, Any]:
    """The pod template's spec of a workload (Deployment, StatefulSet, Job, CronJob), as policy/rules.py reads it."""
    spec = rules.pod_spec({"kind": resource.kind, **resource.inputs})
    assert spec is not None, f"{resource.kind} {resource.name} has no pod template"
    return spec


def pod_labels(resource: RecordedResource) -> dict[str, str]:
    spec = resource.inputs["spec"]
    template = spec["jobTemplate"]["spec"]["template"] if resource.kind == "CronJob" else spec["template"]
    labels: dict[str, str] = template["metadata"]["labels"]
    return labels


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def workloads(run: StackRun) -> list[RecordedResource]:
    return [resource for resource in run.kubernetes_objects() if resource.kind in WORKLOAD_KINDS]
