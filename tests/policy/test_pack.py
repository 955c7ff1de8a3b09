"""The policy pack's policies, called on the rendered objects (no violations) and on broken ones (one each)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs, ResourceValidationPolicy

from offline.engine import RecordedResource, StackRun
from policy.pack import POLICIES

POLICY = {policy.name: policy for policy in POLICIES}


def _args(resource_type: str, props: dict[str, Any], name: str = "subject") -> ResourceValidationArgs:
    options = PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )
    return ResourceValidationArgs(resource_type, props, f"urn:pulumi:test::p::{resource_type}::{name}", name, options, None)


def _violations(policy: ResourceValidationPolicy, resource_type: str, props: dict[str, Any]) -> list[str]:
    reported: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        reported.append(message)

    validate = policy.validate
    assert callable(validate)
    validate(_args(resource_type, props), report)
    return reported


def _as_args(resource: RecordedResource) -> tuple[str, dict[str, Any]]:
    return resource.type, dict(resource.inputs)


def test_every_policy_is_mandatory() -> None:
    assert POLICIES
    assert all(policy.enforcement_level is not None and policy.enforcement_level.value == "mandatory" for policy in POLICIES)


def test_every_policy_is_shown_to_fire() -> None:
    # A policy no breakage below trips could be a no-op: each must be proven.
    assert {policy_name for policy_name, _ in BREAKAGES.values()} == set(POLICY)


def test_rendered_stacks_have_no_violations(stack_run: StackRun) -> None:
    checked = 0
    for resource in stack_run.resources:
        for policy in POLICIES:
            assert _violations(policy, *_as_args(resource)) == [], f"{policy.name} on {resource.type} {resource.name}"
        checked += resource.is_kubernetes_object
    assert checked > 20


def _workload(run: StackRun, kind: str) -> tuple[str, dict[str, Any]]:
    (resource, *_) = run.find(kind)
    return _as_args(resource)


def _first_container(props: dict[str, Any]) -> dict[str, Any]:
    spec = props["spec"]
    if props["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    container: dict[str, Any] = spec["template"]["spec"]["containers"][0]
    return container


def _pod(props: dict[str, Any]) -> dict[str, Any]:
    spec = props["spec"]
    if props["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod: dict[str, Any] = spec["template"]["spec"]
    return pod


Breakage = Callable[[dict[str, Any]], object]

BREAKAGES: dict[str, tuple[str, Breakage]] = {
    "privileged": ("pod-security-restricted", lambda p: _first_container(p)["securityContext"].update(privileged=True)),
    "escalation unset": ("pod-security-restricted", lambda p: _first_container(p)["securityContext"].pop("allowPrivilegeEscalation")),
    "caps not dropped": ("pod-security-restricted", lambda p: _first_container(p)["securityContext"].update(capabilities={"drop": []})),
    "caps added": (
        "pod-security-restricted",
        lambda p: _first_container(p)["securityContext"].update(capabilities={"drop": ["ALL"], "add": ["NET_ADMIN"]}),
    ),
    "root user": ("pod-security-restricted", lambda p: _first_container(p)["securityContext"].update(runAsUser=0)),
    "may run as root": (
        "pod-security-restricted",
        lambda p: (_pod(p)["securityContext"].pop("runAsNonRoot", None), _first_container(p)["securityContext"].pop("runAsNonRoot", None)),
    ),
    "no seccomp": (
        "pod-security-restricted",
        lambda p: (
            _pod(p)["securityContext"].pop("seccompProfile", None),
            _first_container(p)["securityContext"].pop("seccompProfile", None),
        ),
    ),
    "host network": ("pod-security-restricted", lambda p: _pod(p).update(hostNetwork=True)),
    "host path": ("pod-security-restricted", lambda p: _pod(p).setdefault("volumes", []).append({"name": "h", "hostPath": {"path": "/"}})),
    "host port": ("pod-security-restricted", lambda p: _first_container(p).update(ports=[{"containerPort": 80, "hostPort": 80}])),
    "tag only": ("images-pinned-by-digest", lambda p: _first_container(p).update(image="mysql:8.4.7")),
    "secret env": (
        "secrets-only-as-files",
        lambda p: (
            _first_container(p)
            .setdefault("env", [])
            .append({"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}})
        ),
    ),
    "literal secret": (
        "secrets-only-as-files",
        lambda p: _first_container(p).setdefault("env", []).append({"name": "API_TOKEN", "value": "abc"}),
    ),
    "secret envFrom": (
        "secrets-only-as-files",
        lambda p: _first_container(p).setdefault("envFrom", []).append({"secretRef": {"name": "s"}}),
    ),
    "no limits": ("resource-limits-set", lambda p: _first_container(p).pop("resources")),
}


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "Job", "CronJob"])
@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_each_broken_workload_is_reported(prod_run: StackRun, kind: str, breakage: str) -> None:
    resource_type, props = _workload(prod_run, kind)
    props = copy.deepcopy(props)
    policy_name, breaker = BREAKAGES[breakage]
    breaker(props)
    violations = _violations(POLICY[policy_name], resource_type, props)
    assert len(violations) >= 1, f"{policy_name} missed {breakage} on {kind}"
    for other in POLICIES:
        if other.name != policy_name:
            assert _violations(other, resource_type, props) == [], f"{other.name} also fired on {breakage}"
