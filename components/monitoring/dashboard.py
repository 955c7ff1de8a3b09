"""The service's Grafana dashboard, in a ConfigMap the Grafana sidecar (kiwigrid k8s-sidecar, as
the Grafana Helm chart and kube-prometheus-stack run it) loads: it watches ConfigMaps carrying its
label (`grafana_dashboard: "1"` by default) and writes their JSON files into Grafana.

`dashboard` is a pure function of the namespace, so the tests read every query it makes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.config import DashboardConfig
from components.monitoring import queries
from components.monitoring.queries import API_JOB, WORKER_JOB

# Grafana's own range for rate() over its scrape interval; the tests put `5m` in its place.
RATE_WINDOW = "$__rate_interval"


@dataclass(frozen=True)
class DashboardArgs:
    config: DashboardConfig
    namespace: pulumi.Input[str]
    labels: dict[str, str]  # the stack's labels, beside the sidecar's
    worker: bool  # the worker runs: its panels


class Dashboard(pulumi.ComponentResource):
    """A ConfigMap holding one dashboard JSON, labelled for the Grafana sidecar."""

    def __init__(self, name: str, args: DashboardArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fastapi-service:monitoring:Dashboard", name, None, opts)
        document = pulumi.Output.from_input(args.namespace).apply(lambda namespace: json.dumps(dashboard(namespace, worker=args.worker)))
        k8s.core.v1.ConfigMap(
            name,
            metadata=kube.metadata(name, args.namespace, {**args.config.labels, **args.labels}),
            data={"fastapi-service.json": document},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})


def dashboard(namespace: str, *, worker: bool) -> dict[str, Any]:
    """The dashboard: the API's traffic, errors, latency and dependencies; the worker's tasks."""
    api = queries.client_requests(namespace)
    panels = [
        _panel("Requests per second by route", [(f"sum by (route) (rate(http_requests_total{api}[{RATE_WINDOW}]))", "{{route}}")], "reqps"),
        _panel("Server error ratio (5xx)", [(queries.error_ratio(namespace, RATE_WINDOW), "5xx")], "percentunit"),
        _panel(
            "Latency (p50, p99)",
            [
                (queries.latency_quantile(namespace, 0.5, RATE_WINDOW), "p50"),
                (queries.latency_quantile(namespace, 0.99, RATE_WINDOW), "p99"),
            ],
            "s",
        ),
        _panel(
            "Dependencies up (database, Redis)",
            [
                (f"min(service_database_up{queries.selector(namespace, API_JOB)})", "database"),
                (f"min(service_redis_up{queries.selector(namespace, API_JOB)})", "redis"),
            ],
            "short",
        ),
        _panel(
            "Item cache lookups by result",
            [(f"sum by (result) (rate(service_cache_requests_total{queries.selector(namespace, API_JOB)}[{RATE_WINDOW}]))", "{{result}}")],
            "ops",
        ),
    ]
    if worker:
        tasks = queries.selector(namespace, WORKER_JOB)
        panels += [
            _panel(
                "Task runs by state",
                [(f"sum by (task, state) (rate(service_worker_tasks_total{tasks}[{RATE_WINDOW}]))", "{{task}} {{state}}")],
                "ops",
            ),
            _panel(
                "Task run time (p95)",
                [
                    (
                        "histogram_quantile(0.95, sum by (le, task) "
                        f"(rate(service_worker_task_duration_seconds_bucket{tasks}[{RATE_WINDOW}])))",
                        "{{task}}",
                    )
                ],
                "s",
            ),
            _panel("Import backlog (accepted - ended, 30m)", [(queries.import_backlog(namespace, "30m"), "backlog")], "short"),
        ]
    for index, panel in enumerate(panels):
        panel["id"] = index + 1
        panel["gridPos"] = {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)}
    return {
        # One dashboard per stack: the uid (at most 40 characters) from the namespace.
        "uid": "fastapi-" + hashlib.sha256(namespace.encode()).hexdigest()[:16],
        "title": f"fastapi-service ({namespace})",
        "tags": ["fastapi-service"],
        "timezone": "utc",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus"}]},
        "panels": panels,
    }


def expressions(document: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard."""
    return [target["expr"] for panel in document["panels"] for target in panel["targets"]]


def _panel(title: str, targets: list[tuple[str, str]], unit: str) -> dict[str, Any]:
    return {
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "expr": expr,
                "legendFormat": legend,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
            }
            for index, (expr, legend) in enumerate(targets)
        ],
    }
