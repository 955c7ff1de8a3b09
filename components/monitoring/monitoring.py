"""The stack's monitoring objects: what Prometheus scrapes, the alerts, the Grafana dashboard.

Off by default, and created only when enabled: ServiceMonitor and PrometheusRule are
prometheus-operator's CRDs, which a cluster may not have. When enabled they are plain CustomResources
through the stack's provider, like every other object; `pulumi up` then needs the CRDs installed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components import kube
from components.config import StackSettings, backed_up
from components.kube import PodSelector
from components.monitoring.alerts import AlertRules, AlertRulesArgs
from components.monitoring.dashboard import Dashboard, DashboardArgs
from components.monitoring.scraping import Scraping, ScrapingArgs
from components.network.peers import NetworkPeer


@dataclass(frozen=True)
class MonitoringArgs:
    config: StackSettings  # monitoring, and what it watches (the worker, the backups)
    namespace: pulumi.Input[str]
    api: NetworkPeer  # the API pods and their port (/metrics)
    worker: PodSelector | None  # the worker pods; None: no worker


class Monitoring(pulumi.ComponentResource):
    """Scraping (metrics Services and a ServiceMonitor), alerts (a PrometheusRule), a dashboard (a ConfigMap), as enabled."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fastapi-service:monitoring:Monitoring", name, None, opts)
        monitoring, child = args.config.monitoring, pulumi.ResourceOptions(parent=self)
        worker = args.worker is not None
        if monitoring.service_monitor.enabled:
            Scraping(f"{name}-scrape", ScrapingArgs(monitoring.service_monitor, args.namespace, args.api, args.worker), opts=child)
        if monitoring.prometheus_rule.enabled:
            labels = kube.labels("fastapi-service-monitoring", f"{name}-alerts", "alerts")
            alerts = AlertRulesArgs(monitoring.prometheus_rule, args.namespace, labels, worker=worker, backups=bool(backed_up(args.config)))
            AlertRules(f"{name}-alerts", alerts, opts=child)
        if monitoring.dashboard.enabled:
            labels = kube.labels("fastapi-service-monitoring", f"{name}-dashboard", "dashboard")
            Dashboard(f"{name}-dashboard", DashboardArgs(monitoring.dashboard, args.namespace, labels, worker=worker), opts=child)
        self.register_outputs({})
