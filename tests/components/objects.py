"""Reading one component's Kubernetes objects out of a recorded stack run (shared by the component tests)."""

from __future__ import annotations

from typing import Any

from offline.engine import RecordedResource, StackRun


def descendants(run: StackRun, component_type: str) -> list[RecordedResource]:
    """Every resource below the (single) component of `component_type`, at any depth."""
    (component,) = run.of_type(component_type)
    below = {component.urn}
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
    (container,) = statefulset(objects)["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = container
    return result
