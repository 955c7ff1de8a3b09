"""NetworkPolicies: default deny, then exactly the paths the service uses, checked against the
selectors of the pods the other components actually create (the source of truth)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components.config import StackConfig
from offline.engine import RecordedResource, StackRun
from tests.support.objects import pod_labels, pod_spec, selects, workloads

RunWith = Callable[..., StackRun]


def _policies(run: StackRun) -> dict[str, dict[str, Any]]:
    return {resource.inputs["metadata"]["name"]: resource.inputs["spec"] for resource in run.find("NetworkPolicy")}


def _container_port(workload: RecordedResource) -> int:
    (container,) = [container for container in pod_spec(workload)["containers"] if container.get("ports")]
    port: int = container["ports"][0]["containerPort"]
    return port


def _allowed_sources(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [source for rule in policy.get("ingress", []) for source in rule["from"]]


def _ports(policy: dict[str, Any]) -> list[int | str]:
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


def _component(workload: RecordedResource) -> str:
    return pod_labels(workload)["app.kubernetes.io/component"]


def _admitted(run: StackRun, policy: dict[str, Any]) -> set[str]:
    """`kind/name` of every workload whose pods some rule of `policy` admits."""
    sources = [source["podSelector"]["matchLabels"] for source in _allowed_sources(policy)]
    return {f"{w.kind}/{w.name}" for w in workloads(run) if any(selects(source, pod_labels(w)) for source in sources)}


def _expected(run: StackRun, *, components: set[str], backups_of: str) -> set[str]:
    return {
        f"{w.kind}/{w.name}"
        for w in workloads(run)
        if _component(w) in components or (w.kind == "CronJob" and pod_labels(w)["app.kubernetes.io/name"] == f"{backups_of}-backup")
    }


def test_mysql_admits_its_clients_and_backups_on_its_port_only(stack_run: StackRun) -> None:
    policy = _policies(stack_run)["network-mysql"]
    mysql = _workload(stack_run, "StatefulSet", "mysql")
    assert selects(policy["podSelector"]["matchLabels"], pod_labels(mysql))
    assert _ports(policy) == [_container_port(mysql)]
    assert _admitted(stack_run, policy) == _expected(stack_run, components={"api", "migration", "worker"}, backups_of="mysql")


def test_redis_admits_the_api_the_worker_and_its_backups_only(stack_run: StackRun) -> None:
    policy = _policies(stack_run)["network-redis"]
    redis = _workload(stack_run, "StatefulSet", "redis")
    assert selects(policy["podSelector"]["matchLabels"], pod_labels(redis))
    assert _ports(policy) == [_container_port(redis)]
    assert _admitted(stack_run, policy) == _expected(stack_run, components={"api", "worker"}, backups_of="redis")


def test_nothing_reaches_the_worker(stack_run: StackRun) -> None:
    (worker,) = [w for w in workloads(stack_run) if _component(w) == "worker"]
    for name, policy in _policies(stack_run).items():
        if "Ingress" in policy["policyTypes"] and policy["podSelector"]:
            assert not selects(policy["podSelector"]["matchLabels"], pod_labels(worker)), name


def test_backup_pods_may_reach_only_dns_their_server_and_the_repository(stack_run: StackRun, stack_config: StackConfig) -> None:
    cron_jobs = stack_run.find("CronJob")
    egress = {name: policy for name, policy in _policies(stack_run).items() if policy["policyTypes"] == ["Egress"]}
    assert len(egress) == len(cron_jobs)
    for cron_job in cron_jobs:
        (policy,) = [p for p in egress.values() if selects(p["podSelector"]["matchLabels"], pod_labels(cron_job))]
        destinations = [rule["to"][0] for rule in policy["egress"]]
        assert destinations[0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
        server = _workload(stack_run, "StatefulSet", pod_labels(cron_job)["app.kubernetes.io/name"].removesuffix("-backup"))
        assert selects(destinations[1]["podSelector"]["matchLabels"], pod_labels(server))
        assert [rule["ports"] for rule in policy["egress"]][1] == [{"protocol": "TCP", "port": _container_port(server)}]
        off_site = [d for d in destinations if "ipBlock" in d]
        assert len(off_site) == (stack_config.backup.target == "s3")


def test_the_exposures_proxies_reach_the_app_from_their_namespace(stack_run: StackRun, stack_config: StackConfig) -> None:
    # An Ingress: the controller's namespace; an HTTPRoute: the Gateway's (where its proxies run).
    policies, exposure = _policies(stack_run), stack_config.app.effective_exposure
    expected = {"ingress": "network-app-from-ingress", "gateway": "network-app-from-gateway"}
    assert {name for name in policies if name in expected.values()} == ({expected[exposure.mode]} if exposure.mode in expected else set())
    if exposure.mode == "none":
        return
    policy = policies[expected[exposure.mode]]
    (api,) = [workload for workload in workloads(stack_run) if _component(workload) == "api"]
    assert selects(policy["podSelector"]["matchLabels"], pod_labels(api))
    assert _ports(policy) == [_container_port(api)]
    if exposure.ingress is not None:
        namespace = exposure.ingress.controller_namespace
    else:
        assert exposure.gateway is not None
        namespace = exposure.gateway.namespace
    assert _allowed_sources(policy) == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}]


def test_the_gateways_namespace_replaces_the_ingress_controllers(run_with: RunWith) -> None:
    gateway = {"mode": "gateway", "gateway": {"name": "public", "namespace": "gateway-system"}}
    policies = _policies(run_with("dev", {"app": {"replicas": 1, "exposure": gateway}}))
    assert "network-app-from-ingress" not in policies
    (source,) = _allowed_sources(policies["network-app-from-gateway"])
    assert source == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway-system"}}}


def test_prometheus_reaches_only_the_metrics_ports_and_only_when_scraping(run_with: RunWith, stack_run: StackRun) -> None:
    assert not [name for name in _policies(stack_run) if "prometheus" in name]
    run = run_with("dev", {"monitoring": {"serviceMonitor": {"enabled": True, "prometheusNamespace": "monitoring"}}})
    policies = _policies(run)
    prometheus = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    by_component = {_component(workload): workload for workload in workloads(run) if _component(workload) in ("api", "worker")}
    for name, component in (("network-app-from-prometheus", "api"), ("network-worker-from-prometheus", "worker")):
        policy, workload = policies[name], by_component[component]
        assert selects(policy["podSelector"]["matchLabels"], pod_labels(workload))
        assert _allowed_sources(policy) == prometheus
        ports = {port["name"]: port["containerPort"] for container in pod_spec(workload)["containers"] for port in container["ports"]}
        (port,) = _ports(policy)
        assert port in ports or port in ports.values(), f"{name} admits {port}, which the {component} pods do not declare"
    assert _ports(policies["network-worker-from-prometheus"]) == ["metrics"]


def test_the_api_admits_only_pods_labelled_as_its_clients_on_its_port(stack_run: StackRun) -> None:
    policy = _policies(stack_run)["network-app-from-clients"]
    (api,) = [workload for workload in workloads(stack_run) if _component(workload) == "api"]
    label = stack_run.outputs["apiClientLabel"]
    assert selects(policy["podSelector"]["matchLabels"], pod_labels(api))
    assert _ports(policy) == [_container_port(api)]
    assert _allowed_sources(policy) == [{"podSelector": {"matchLabels": label}}]
    # None of the stack's own workloads carries it: being a client is an opt-in of other pods.
    assert not [workload.name for workload in workloads(stack_run) if selects(label, pod_labels(workload))]


def test_client_namespaces_admit_their_labelled_pods_too(run_with: RunWith) -> None:
    run = run_with("dev", {"app": {"clientNamespaces": ["frontend"]}})
    sources = _allowed_sources(_policies(run)["network-app-from-clients"])
    label = run.outputs["apiClientLabel"]
    namespace = {"kubernetes.io/metadata.name": "frontend"}
    assert sources == [
        {"podSelector": {"matchLabels": label}},
        {"namespaceSelector": {"matchLabels": namespace}, "podSelector": {"matchLabels": label}},
    ]


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
    overrides: dict[str, object] = {external: {"mode": "external", "host": f"{external}.example.com"}}
    if external == "mysql":
        overrides["backup"] = None  # the only backed-up server is now outside
    secret = {"mysql": "mysqlPassword", "redis": "redisPassword"}[external]
    run = run_with("dev", overrides, secrets={secret: "canary-0123456789abcdef"})
    assert f"network-{external}" not in _policies(run)
    assert "network-default-deny-ingress" in _policies(run)
