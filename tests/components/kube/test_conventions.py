"""Conventions every object follows, per stack."""

from __future__ import annotations

from collections.abc import Callable

from components.kube import OWNED_ANNOTATIONS
from offline.engine import StackRun

RunWith = Callable[..., StackRun]


def _without_the_owned_annotation(run: StackRun) -> list[str]:
    return [
        f"{resource.kind}/{resource.name}"
        for resource in run.kubernetes_objects()
        if not OWNED_ANNOTATIONS.items() <= ((resource.inputs.get("metadata") or {}).get("annotations") or {}).items()
    ]


def test_up_with_refresh_takes_back_every_declared_field_of_every_object(stack_run: StackRun) -> None:
    """Without it, a field someone changed with kubectl stops the next `up` at a field-manager conflict."""
    assert _without_the_owned_annotation(stack_run) == []


def test_the_optional_objects_take_it_too(run_with: RunWith) -> None:
    monitoring = {"serviceMonitor": {"enabled": True, "prometheusNamespace": "monitoring"}, "prometheusRule": {"enabled": True}}
    exposure = {"mode": "ingress", "hostnames": ["api.example.com"], "ingress": {"controllerNamespace": "edge"}}
    run = run_with("dev", {"monitoring": {**monitoring, "dashboard": {"enabled": True}}, "app": {"replicas": 1, "exposure": exposure}})
    assert _without_the_owned_annotation(run) == []
