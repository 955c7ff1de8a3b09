"""The service's alerts, as a PrometheusRule (prometheus-operator's CRD): error rate, p99 latency,
readiness, the import backlog and the backups' age.

`rule_groups` is a pure function of the thresholds and the namespace, so `promtool check rules`
and `promtool test rules` read exactly what the cluster gets (tests/components/monitoring).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.config import PrometheusRuleConfig
from components.monitoring import queries
from components.monitoring.queries import API_JOB, WORKER_JOB

MONITORING_API_VERSION = "monitoring.coreos.com/v1"


@dataclass(frozen=True)
class AlertRulesArgs:
    config: PrometheusRuleConfig
    namespace: pulumi.Input[str]
    labels: dict[str, str]  # the stack's labels, beside the config's (the ruleSelector's)
    worker: bool  # the worker runs: alert on the import backlog
    backups: bool  # servers are backed up: alert on the backups' age


class AlertRules(pulumi.ComponentResource):
    """One PrometheusRule with the service's alerts, in the stack's namespace."""

    def __init__(self, name: str, args: AlertRulesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fastapi-service:monitoring:AlertRules", name, None, opts)
        config = args.config
        spec = pulumi.Output.from_input(args.namespace).apply(
            lambda namespace: {"groups": rule_groups(config, namespace, worker=args.worker, backups=args.backups)}
        )
        k8s.apiextensions.CustomResource(
            name,
            api_version=MONITORING_API_VERSION,
            kind="PrometheusRule",
            metadata=kube.metadata(name, args.namespace, {**config.labels, **args.labels}),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})


def rule_groups(config: PrometheusRuleConfig, namespace: str, *, worker: bool, backups: bool) -> list[dict[str, Any]]:
    """The rule groups, as Prometheus's rule files and the PrometheusRule's spec.groups hold them."""
    where = f"namespace {namespace}"
    api: list[dict[str, Any]] = [
        _alert(
            "FastapiServiceHighErrorRatio",
            f"{queries.error_ratio(namespace, '5m')} > {config.error_ratio_percent / 100:g}",
            "10m",
            "critical",
            summary=f"More than {config.error_ratio_percent:g}% of API requests fail in {where}",
            description="{{ $value | humanizePercentage }} of the API's client requests were answered 5xx over 5 minutes.",
        ),
        _alert(
            "FastapiServiceHighLatencyP99",
            f"{queries.latency_quantile(namespace, 0.99, '5m')} > {config.latency_p99_seconds:g}",
            "10m",
            "warning",
            summary=f"The API's p99 latency is above {config.latency_p99_seconds:g}s in {where}",
            description="p99 of the API's client requests is {{ $value | humanizeDuration }} over 5 minutes.",
        ),
        _alert(
            "FastapiServiceNotReady",
            f"max({_series('service_database_up', namespace, API_JOB)}) == 0",
            "5m",
            "critical",
            summary=f"No API pod reaches the database in {where}: the pods are not ready",
            description="Every API pod reports service_database_up 0: /readyz answers 503 and the Service sends them no traffic.",
        ),
        _alert(
            "FastapiServiceRedisDown",
            f"max({_series('service_redis_up', namespace, API_JOB)}) == 0",
            "10m",
            "warning",
            summary=f"No API pod reaches Redis in {where}: reads bypass the cache, imports cannot be queued",
            description="Every API pod reports service_redis_up 0 (readiness stays up: the service runs degraded).",
        ),
        _alert(
            "FastapiServiceTargetDown",
            f'up{{namespace="{namespace}",job=~"{API_JOB}|{WORKER_JOB}"}} == 0',
            "5m",
            "warning",
            summary=f"Prometheus cannot scrape {{{{ $labels.job }}}} pod {{{{ $labels.pod }}}} in {where}",
            description="The pod's metrics endpoint does not answer (the pod is down, or a NetworkPolicy refuses Prometheus).",
        ),
        _alert(
            "FastapiServiceMetricsAbsent",
            f'absent(up{{namespace="{namespace}",job="{API_JOB}"}})',
            "15m",
            "warning",
            summary=f"Prometheus scrapes no API pod in {where}",
            description=(
                "No scrape target of the API: the ServiceMonitor's labels miss the Prometheus's serviceMonitorSelector, or no pod runs."
            ),
        ),
    ]
    groups = [{"name": "fastapi-service.api", "rules": api}]
    if worker:
        groups.append(
            {
                "name": "fastapi-service.worker",
                "rules": [
                    _alert(
                        "FastapiServiceImportBacklog",
                        f"{queries.import_backlog(namespace, '30m')} > {config.import_backlog}",
                        "15m",
                        "warning",
                        summary=f"Imports pile up in {where}",
                        description=(
                            "{{ $value }} more imports were accepted than runs ended in 30 minutes: the workers fall behind or are stopped."
                        ),
                    )
                ],
            }
        )
    if backups:
        groups.append(
            {
                "name": "fastapi-service.backups",
                "rules": [
                    _alert(
                        "FastapiServiceBackupTooOld",
                        queries.backup_age_over(namespace, config.backup_max_age_hours * 3600),
                        "5m",
                        "critical",
                        summary=(
                            f"Backup CronJob {{{{ $labels.cronjob }}}} has not succeeded for {config.backup_max_age_hours}h in {where}"
                        ),
                        description=(
                            "Its last success is {{ $value | humanizeDuration }} ago (or it never succeeded): "
                            "`kubectl get jobs` shows the runs."
                        ),
                    )
                ],
            }
        )
    return groups


def alert_names(groups: list[dict[str, Any]]) -> list[str]:
    return [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]


def _series(metric: str, namespace: str, job: str) -> str:
    return f"{metric}{queries.selector(namespace, job)}"


def _alert(name: str, expr: str, wait: str, severity: str, *, summary: str, description: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": wait,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description},
    }
