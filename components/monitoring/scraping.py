"""What Prometheus scrapes: a headless metrics Service per workload (the API's /metrics on its
HTTP port, the worker's metrics port) and one ServiceMonitor (prometheus-operator's CRD) over both.

The ServiceMonitor's jobLabel names the jobs after the Services' component label, so the series
are `job="api"` and `job="worker"` whatever the Services are called (components/monitoring/queries.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.config import ServiceMonitorConfig
from components.kube import PodSelector
from components.monitoring.alerts import MONITORING_API_VERSION
from components.monitoring.queries import API_JOB, WORKER_JOB
from components.network.peers import NetworkPeer

METRICS_PATH = "/metrics"  # the API's (service/api/health.py) and the worker's (prometheus-client's server)
# The worker Deployment's container port (components/app/worker.py: METRICS_PORT, named `metrics`);
# the Service targets it by name, so only the Service's own port number is written here.
WORKER_METRICS_PORT = 9540
METRICS_PORT_NAME = "metrics"
# The label the ServiceMonitor selects the metrics Services by.
SCRAPED_LABEL = {"fastapi-service/metrics": "true"}


@dataclass(frozen=True)
class ScrapingArgs:
    config: ServiceMonitorConfig
    namespace: pulumi.Input[str]
    api: NetworkPeer  # the API pods and the port they serve /metrics on
    worker: PodSelector | None  # the worker pods (their `metrics` port); None: no worker


class Scraping(pulumi.ComponentResource):
    """Headless metrics Services for the API and the worker, and the ServiceMonitor that scrapes them."""

    def __init__(self, name: str, args: ScrapingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fastapi-service:monitoring:Scraping", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._service(name, args, job=API_JOB, pods=args.api.pod_selector, port=args.api.port, target_port="http", opts=child)
        if args.worker is not None:
            self._service(name, args, job=WORKER_JOB, pods=args.worker, port=WORKER_METRICS_PORT, target_port=METRICS_PORT_NAME, opts=child)
        k8s.apiextensions.CustomResource(
            name,
            api_version=MONITORING_API_VERSION,
            kind="ServiceMonitor",
            metadata=kube.metadata(name, args.namespace, {**args.config.labels, **_labels(name, "metrics")}),
            spec=service_monitor_spec(args.config, name),
            opts=child,
        )
        self.register_outputs({})

    @staticmethod
    def _service(
        instance: str,
        args: ScrapingArgs,
        *,
        job: str,
        pods: PodSelector,
        port: int,
        target_port: str,
        opts: pulumi.ResourceOptions,
    ) -> None:
        service_name = f"{instance}-{job}"
        k8s.core.v1.Service(
            service_name,
            metadata=kube.metadata(service_name, args.namespace, {**_labels(instance, job), **SCRAPED_LABEL}),
            spec={
                # Headless: Prometheus scrapes each pod through the Endpoints; nothing needs a virtual IP.
                "clusterIP": "None",
                "selector": pods,
                "ports": [{"name": METRICS_PORT_NAME, "port": port, "targetPort": target_port, "protocol": "TCP"}],
            },
            opts=opts,
        )


def service_monitor_spec(config: ServiceMonitorConfig, instance: str) -> dict[str, object]:
    return {
        "jobLabel": "app.kubernetes.io/component",
        "selector": {"matchLabels": {**SCRAPED_LABEL, "app.kubernetes.io/instance": instance}},
        "endpoints": [{"port": METRICS_PORT_NAME, "path": METRICS_PATH, "interval": config.interval, "scheme": "http"}],
    }


def _labels(instance: str, component: str) -> dict[str, str]:
    return kube.labels("fastapi-service-monitoring", instance, component)
