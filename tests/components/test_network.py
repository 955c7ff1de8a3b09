"""NetworkPolicies: default deny, then exactly the paths the service uses, checked against the
selectors of the pods the other components actually create (the source of truth)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from offline.engine import RecordedResource, StackRun
from tests.objects import pod_labels, pod_spec, selects, workloads

RunWith = Callable[..., StackRun]


def _policies(run: StackRun) -> dict[str, dict[str, Any]]:
    return {resource.inputs["metadata"]["name"]: resource.inputs["spec"] for resource in run.find("NetworkPolicy")}


def _container_port(workload: RecordedResource) -> int:
    (container,) = [container for container in pod_spec(workload)["containers"] if container.get("ports")]
    port: int = container["ports"][0]["containerPort"]
    return port


def _allowed_sources(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [source for rule in policy.get("ingress", []) for source in rule["from"]]


def _ports(policy: dict[str, Any]) -> list[int]:
    return [port["port"] for rule in policy.get("ingress", []) for port in rule["ports"]]


def _workload(run: StackRun, kind: str, name: str) -> RecordedResource:
    (found,) = [resource for resource in run.find(kind) if resource.inputs["metadata"].get("name") == name or resource.name == name]
    return found


def test_default_deny_selects_every_pod_and_admits_nothing(stack_run: StackRun) -> None:
    # In the form the API server stores (no empty matchLabels, no empty rule list), so a
    # re-apply leaves the live object unchanged.
    deny = _policies(stack_run)["network-default-deny-ingress"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_every_workload_pod_is_selected_by_some_policy(stack_run: StackRun) -> None:
    selectors = [policy["podSelector"].get("matchLabels", {}) for policy in _policies(stack_run).values()]
    for workload in workloads(stack_run):
        assert any(selects(selector, pod_labels(workload)) for selector in selectors), workload.name


def test_mysql_admits_the_api_migrations_and_backups_on_3306_only(stack_run: StackRun) -> None:
    policy = _policies(stack_run)["network-mysql"]
    mysql = _workload(stack_run, "StatefulSet", "mysql")
    assert selects(policy["podSelector"]["matchLabels"], pod_labels(mysql))
    assert _ports(policy) == [_container_port(mysql)]
    sources = [source["podSelector"]["matchLabels"] for source in _allowed_sources(policy)]
    clients = [workload for workload in workloads(stack_run) if workload.kind in {"Deployment", "Job", "CronJob"}]
    assert clients
    for client in clients:  # the API, its migration Job, the backup CronJob (prod)
        assert any(selects(source, pod_labels(client)) for source in sources), client.name
    assert not any(selects(source, pod_labels(_workload(stack_run, "StatefulSet", "redis"))) for source in sources)
    assert ("mysql-backup" in str(sources)) == (stack_run.stack == "prod")


def test_redis_admits_only_the_api_on_6379(stack_run: StackRun) -> None:
    policy = _policies(stack_run)["network-redis"]
    redis = _workload(stack_run, "StatefulSet", "redis")
    assert selects(policy["podSelector"]["matchLabels"], pod_labels(redis))
    assert _ports(policy) == [_container_port(redis)]
    (source,) = _allowed_sources(policy)
    api = [workload for workload in workloads(stack_run) if workload.kind == "Deployment"]
    assert [workload for workload in workloads(stack_run) if selects(source["podSelector"]["matchLabels"], pod_labels(workload))] == api


def test_ingress_controller_reaches_the_app_when_ingress_is_enabled(stack_run: StackRun) -> None:
    policies = _policies(stack_run)
    if stack_run.stack == "dev":  # ingress disabled: nothing from outside the namespace
        assert "network-app-from-ingress" not in policies
        return
    policy = policies["network-app-from-ingress"]
    (api,) = [workload for workload in workloads(stack_run) if workload.kind == "Deployment"]
    assert selects(policy["podSelector"]["matchLabels"], pod_labels(api))
    assert _ports(policy) == [_container_port(api)]
    assert _allowed_sources(policy) == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]


def test_no_rule_admits_every_source(stack_run: StackRun) -> None:
    # An ingress rule without `from` (or with an empty selector) would admit any pod.
    for name, policy in _policies(stack_run).items():
        for rule in policy.get("ingress", []):
            assert rule.get("from"), name
            for source in rule["from"]:
                selector = source.get("podSelector") or source.get("namespaceSelector")
                assert selector, name
                assert selector["matchLabels"], name


@pytest.mark.parametrize("external", ["mysql", "redis"])
def test_external_servers_get_no_policy(run_with: RunWith, external: str) -> None:
    overrides = {external: {"mode": "external", "host": f"{external}.example.com"}}
    secret = {"mysql": "mysqlPassword", "redis": "redisPassword"}[external]
    run = run_with("dev", overrides, secrets={secret: "canary-0123456789abcdef"})
    assert f"network-{external}" not in _policies(run)
    assert "network-default-deny-ingress" in _policies(run)
