"""The monitoring objects: none unless enabled (their CRDs may be absent from a cluster), each
switch its own objects, through the stack's provider; the ServiceMonitor scrapes exactly the
API's and the worker's metrics ports, under the job names the alerts and the dashboard read."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from components.app.api import METRICS_PATH as API_METRICS_PATH
from components.monitoring.queries import API_JOB, WORKER_JOB
from components.monitoring.scraping import METRICS_PATH
from offline.engine import RecordedResource, StackRun
from tests.support.objects import descendants, pod_labels, pod_spec, selects, workloads

RunWith = Callable[..., StackRun]
BUILT_IN_GROUPS = ("v1", "apps/v1", "batch/v1", "policy/v1", "networking.k8s.io/v1", "autoscaling/v2")
PROMETHEUS_SELECTOR = {"release": "kube-prometheus-stack"}
SCRAPED = {"enabled": True, "prometheusNamespace": "monitoring", "labels": PROMETHEUS_SELECTOR}
EVERYTHING = {"serviceMonitor": SCRAPED, "prometheusRule": {"enabled": True}, "dashboard": {"enabled": True}}


def _custom_resources(run: StackRun) -> list[RecordedResource]:
    return [resource for resource in run.kubernetes_objects() if resource.inputs["apiVersion"] not in BUILT_IN_GROUPS]


def _monitoring(run: StackRun) -> list[RecordedResource]:
    return [resource for resource in descendants(run, "fastapi-service:monitoring:Monitoring") if resource.is_kubernetes_object]


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> StackRun:
    from tests.support.stacks import with_overrides

    return with_overrides("dev", tmp_path_factory.mktemp("monitoring"), {"monitoring": EVERYTHING})


def test_monitoring_off_registers_no_crd_typed_object_and_no_component(stack_run: StackRun) -> None:
    assert not [resource.kind for resource in _custom_resources(stack_run) if resource.kind != "HTTPRoute"]
    assert stack_run.of_type("fastapi-service:monitoring:Monitoring") == []


@pytest.mark.parametrize(
    ("switch", "kinds"),
    [
        ("serviceMonitor", ["Service", "Service", "ServiceMonitor"]),
        ("prometheusRule", ["PrometheusRule"]),
        ("dashboard", ["ConfigMap"]),
    ],
)
def test_each_switch_creates_its_objects_only(run_with: RunWith, switch: str, kinds: list[str]) -> None:
    monitoring = {"serviceMonitor": SCRAPED, switch: {"enabled": True}} if switch != "serviceMonitor" else {"serviceMonitor": SCRAPED}
    run = run_with("dev", {"monitoring": monitoring})
    scraping = ["Service", "Service", "ServiceMonitor"] if switch != "serviceMonitor" else []
    assert sorted(resource.kind for resource in _monitoring(run)) == sorted(kinds + scraping)


def test_custom_resources_go_through_the_stacks_provider(everything: StackRun) -> None:
    (provider,) = everything.of_type("pulumi:providers:kubernetes")
    custom = _custom_resources(everything)
    assert sorted(resource.kind for resource in custom) == ["PrometheusRule", "ServiceMonitor"]
    for resource in custom:
        assert resource.provider.startswith(provider.urn + "::"), resource.name


def _metrics_services(run: StackRun) -> list[RecordedResource]:
    return [resource for resource in _monitoring(run) if resource.kind == "Service"]


def test_the_service_monitor_selects_exactly_the_metrics_services(everything: StackRun) -> None:
    (monitor,) = [resource for resource in _monitoring(everything) if resource.kind == "ServiceMonitor"]
    selector = monitor.inputs["spec"]["selector"]["matchLabels"]
    chosen = [service for service in everything.find("Service") if selects(selector, service.inputs["metadata"]["labels"])]
    assert sorted(service.name for service in chosen) == sorted(service.name for service in _metrics_services(everything))
    assert selects(PROMETHEUS_SELECTOR, monitor.inputs["metadata"]["labels"])  # what the Prometheus's serviceMonitorSelector matches


def test_each_metrics_service_targets_a_port_its_pods_declare(everything: StackRun) -> None:
    (monitor,) = [resource for resource in _monitoring(everything) if resource.kind == "ServiceMonitor"]
    (endpoint,) = monitor.inputs["spec"]["endpoints"]
    job_label = monitor.inputs["spec"]["jobLabel"]
    jobs = set()
    for service in _metrics_services(everything):
        (port,) = service.inputs["spec"]["ports"]
        assert port["name"] == endpoint["port"]
        (workload,) = [
            w for w in workloads(everything) if w.kind == "Deployment" and selects(service.inputs["spec"]["selector"], pod_labels(w))
        ]
        declared = {p["name"]: p["containerPort"] for container in pod_spec(workload)["containers"] for p in container.get("ports", [])}
        assert port["targetPort"] in declared, f"{service.name} targets {port['targetPort']}, not a port of {workload.name}"
        jobs.add(service.inputs["metadata"]["labels"][job_label])
    assert jobs == {API_JOB, WORKER_JOB}  # the job names the alerts and the dashboard read
    assert endpoint["path"] == METRICS_PATH == API_METRICS_PATH


def test_the_worker_metrics_service_uses_the_workers_metrics_port(everything: StackRun) -> None:
    (worker,) = [w for w in workloads(everything) if pod_labels(w)["app.kubernetes.io/component"] == "worker"]
    (container,) = pod_spec(worker)["containers"]
    (declared,) = [port for port in container["ports"] if port["name"] == "metrics"]
    (service,) = [s for s in _metrics_services(everything) if s.inputs["metadata"]["labels"]["app.kubernetes.io/component"] == WORKER_JOB]
    (port,) = service.inputs["spec"]["ports"]
    assert port["port"] == declared["containerPort"] == 9540


def test_without_a_worker_nothing_scrapes_or_alerts_on_it(run_with: RunWith) -> None:
    run = run_with("dev", {"worker": {"enabled": False}, "monitoring": EVERYTHING})
    components = {s.inputs["metadata"]["labels"]["app.kubernetes.io/component"] for s in _metrics_services(run)}
    assert components == {API_JOB}
    (rule,) = [resource for resource in _monitoring(run) if resource.kind == "PrometheusRule"]
    assert "service_worker" not in json.dumps(rule.inputs["spec"])


def test_the_dashboard_is_labelled_for_the_grafana_sidecar(everything: StackRun, run_with: RunWith) -> None:
    (config_map,) = [resource for resource in _monitoring(everything) if resource.kind == "ConfigMap"]
    assert config_map.inputs["metadata"]["labels"]["grafana_dashboard"] == "1"
    (document,) = config_map.inputs["data"].values()
    board: dict[str, Any] = json.loads(document)
    assert board["panels"]
    assert len(board["uid"]) <= 40
    custom = run_with("dev", {"monitoring": {"serviceMonitor": SCRAPED, "dashboard": {"enabled": True, "labels": {"dashboards": "app"}}}})
    (config_map,) = [resource for resource in _monitoring(custom) if resource.kind == "ConfigMap"]
    assert config_map.inputs["metadata"]["labels"]["dashboards"] == "app"
    assert "grafana_dashboard" not in config_map.inputs["metadata"]["labels"]


def test_the_alerts_watch_this_stacks_namespace(everything: StackRun) -> None:
    (rule,) = [resource for resource in _monitoring(everything) if resource.kind == "PrometheusRule"]
    namespace = everything.outputs["namespace"]
    for group in rule.inputs["spec"]["groups"]:
        for alert in group["rules"]:
            assert f'namespace="{namespace}"' in alert["expr"], alert["alert"]
