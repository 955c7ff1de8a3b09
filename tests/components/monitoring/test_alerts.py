"""The alert rules as Prometheus runs them: `promtool check rules` accepts them, and `promtool test
rules` proves each alert, firing on the trouble it names and quiet when the service is healthy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import PrometheusRuleConfig
from components.monitoring.alerts import alert_names, rule_groups
from components.monitoring.dashboard import RATE_WINDOW, dashboard, expressions
from tests.components.monitoring import promtool

NAMESPACE = "fastapi-test"
# One hour of backup age, so the test's clock (it starts at 0) reaches it quickly.
CONFIG = PrometheusRuleConfig(enabled=True, backup_max_age_hours=1)
API = f'namespace="{NAMESPACE}",job="api"'
WORKER = f'namespace="{NAMESPACE}",job="worker"'
BUCKETS = ("0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf")


def _series(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"{name}{{{labels}}}", "values": values}


def _histogram(labels: str, per_minute_above: dict[str, int]) -> list[dict[str, str]]:
    """http_request_duration_seconds buckets: `per_minute_above[le]` observations a minute fall at or below le."""
    return [_series("http_request_duration_seconds_bucket", f'{labels},le="{le}"', f"0+{per_minute_above.get(le, 0)}x40") for le in BUCKETS]


def _alert(name: str, at: str, *alerts: dict[str, Any]) -> dict[str, Any]:
    return {"eval_time": at, "alertname": name, "exp_alerts": list(alerts)}


def _expected(labels: dict[str, str], summary: str, description: str) -> dict[str, Any]:
    return {"exp_labels": labels, "exp_annotations": {"summary": summary, "description": description}}


ITEMS = f'{API},method="GET",route="/api/v1/items/{{item_id}}"'
IMPORTS = f'{API},method="POST",route="/api/v1/imports",status="202"'
WHERE = f"namespace {NAMESPACE}"

# alert -> (input series when in trouble, the alert expected, input series when healthy)
CASES: dict[str, tuple[list[dict[str, str]], dict[str, Any], list[dict[str, str]]]] = {
    "FastapiServiceHighErrorRatio": (
        [
            _series("http_requests_total", f'{ITEMS},status="200"', "0+30x40"),
            _series("http_requests_total", f'{ITEMS},status="500"', "0+10x40"),
        ],
        _expected(
            {"severity": "critical"},
            f"More than 5% of API requests fail in {WHERE}",
            "25% of the API's client requests were answered 5xx over 5 minutes.",
        ),
        # Readiness probes failing is the readiness alert's business, not an error ratio for clients.
        [
            _series("http_requests_total", f'{ITEMS},status="200"', "0+30x40"),
            _series("http_requests_total", f'{API},method="GET",route="/readyz",status="503"', "0+30x40"),
        ],
    ),
    "FastapiServiceHighLatencyP99": (
        _histogram(ITEMS, {"5.0": 60, "10.0": 60, "+Inf": 60}),
        _expected(
            {"severity": "warning"},
            f"The API's p99 latency is above 1s in {WHERE}",
            "p99 of the API's client requests is 4.975s over 5 minutes.",
        ),
        _histogram(ITEMS, dict.fromkeys(BUCKETS[6:], 60)),
    ),
    "FastapiServiceNotReady": (
        [_series("service_database_up", f'{API},pod="api-a"', "0x40"), _series("service_database_up", f'{API},pod="api-b"', "0x40")],
        _expected(
            {"severity": "critical"},
            f"No API pod reaches the database in {WHERE}: the pods are not ready",
            "Every API pod reports service_database_up 0: /readyz answers 503 and the Service sends them no traffic.",
        ),
        [_series("service_database_up", f'{API},pod="api-a"', "0x40"), _series("service_database_up", f'{API},pod="api-b"', "1x40")],
    ),
    "FastapiServiceRedisDown": (
        [_series("service_redis_up", f'{API},pod="api-a"', "0x40")],
        _expected(
            {"severity": "warning"},
            f"No API pod reaches Redis in {WHERE}: reads bypass the cache, imports cannot be queued",
            "Every API pod reports service_redis_up 0 (readiness stays up: the service runs degraded).",
        ),
        [_series("service_redis_up", f'{API},pod="api-a"', "1x40")],
    ),
    "FastapiServiceTargetDown": (
        [_series("up", f'{WORKER},pod="worker-a",instance="10.0.0.7:9540"', "0x40")],
        _expected(
            {"severity": "warning", "namespace": NAMESPACE, "job": "worker", "pod": "worker-a", "instance": "10.0.0.7:9540"},
            f"Prometheus cannot scrape worker pod worker-a in {WHERE}",
            "The pod's metrics endpoint does not answer (the pod is down, or a NetworkPolicy refuses Prometheus).",
        ),
        [_series("up", f'{WORKER},pod="worker-a",instance="10.0.0.7:9540"', "1x40")],
    ),
    "FastapiServiceMetricsAbsent": (
        [_series("up", 'namespace="another-stack",job="api",pod="api-a"', "1x40")],
        _expected(
            {"severity": "warning", "namespace": NAMESPACE, "job": "api"},
            f"Prometheus scrapes no API pod in {WHERE}",
            "No scrape target of the API: the ServiceMonitor's labels miss the Prometheus's serviceMonitorSelector, or no pod runs.",
        ),
        [_series("up", f'{API},pod="api-a"', "1x40")],
    ),
    "FastapiServiceImportBacklog": (
        [
            _series("http_requests_total", IMPORTS, "0+10x70"),
            _series("service_worker_tasks_total", f'{WORKER},task="service.import_items",state="succeeded"', "0+2x70"),
        ],
        _expected(
            {"severity": "warning"},
            f"Imports pile up in {WHERE}",
            "240 more imports were accepted than runs ended in 30 minutes: the workers fall behind or are stopped.",
        ),
        [
            _series("http_requests_total", IMPORTS, "0+10x70"),
            _series("service_worker_tasks_total", f'{WORKER},task="service.import_items",state="succeeded"', "0+9x70"),
            _series("service_worker_tasks_total", f'{WORKER},task="service.import_items",state="failed"', "0+1x70"),
        ],
    ),
    "FastapiServiceBackupTooOld": (
        [
            # mysql's last success at the clock's start; redis's never happened.
            _series("kube_cronjob_status_last_successful_time", f'namespace="{NAMESPACE}",cronjob="mysql-backup"', "0x130"),
            _series("kube_cronjob_created", f'namespace="{NAMESPACE}",cronjob="mysql-backup"', "0x130"),
            _series("kube_cronjob_created", f'namespace="{NAMESPACE}",cronjob="redis-backup"', "0x130"),
        ],
        _expected(
            {"severity": "critical", "namespace": NAMESPACE, "cronjob": "mysql-backup"},
            f"Backup CronJob mysql-backup has not succeeded for 1h in {WHERE}",
            "Its last success is 2h 0m 0s ago (or it never succeeded): `kubectl get jobs` shows the runs.",
        ),
        [
            _series("kube_cronjob_status_last_successful_time", f'namespace="{NAMESPACE}",cronjob="mysql-backup"', "6900x130"),
            _series("kube_cronjob_created", f'namespace="{NAMESPACE}",cronjob="mysql-backup"', "0x130"),
        ],
    ),
}
# When each alert is judged: past its `for`, with its windows full.
EVAL_AT = {"FastapiServiceImportBacklog": "60m", "FastapiServiceBackupTooOld": "2h"}


def _never_succeeded_too(expected: dict[str, Any]) -> list[dict[str, Any]]:
    """The backup case also fires for the CronJob that never succeeded (redis-backup)."""
    labels = {**expected["exp_labels"], "cronjob": "redis-backup"}
    annotations = {
        "summary": expected["exp_annotations"]["summary"].replace("mysql-backup", "redis-backup"),
        "description": expected["exp_annotations"]["description"],
    }
    return [expected, {"exp_labels": labels, "exp_annotations": annotations}]


@pytest.fixture(scope="module")
def groups() -> list[dict[str, Any]]:
    return rule_groups(CONFIG, NAMESPACE, worker=True, backups=True)


@pytest.fixture(scope="module")
def rule_file(groups: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def test_promtool_accepts_the_rules(rule_file: Path) -> None:
    done = promtool.run("check", "rules", rule_file.name, cwd=rule_file.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_promtool_unit_test(groups: list[dict[str, Any]]) -> None:
    assert sorted(CASES) == sorted(alert_names(groups))


@pytest.mark.parametrize("alert", sorted(CASES))
def test_promtool_proves_the_alert_fires_on_trouble_and_stays_quiet_otherwise(alert: str, rule_file: Path) -> None:
    trouble, expected, healthy = CASES[alert]
    at = EVAL_AT.get(alert, "20m")
    fired = _never_succeeded_too(expected) if alert == "FastapiServiceBackupTooOld" else [expected]
    tests = {
        "rule_files": [rule_file.name],
        "evaluation_interval": "1m",
        "tests": [
            {"name": f"{alert} fires", "interval": "1m", "input_series": trouble, "alert_rule_test": [_alert(alert, at, *fired)]},
            {"name": f"{alert} stays quiet", "interval": "1m", "input_series": healthy, "alert_rule_test": [_alert(alert, at)]},
        ],
    }
    test_file = rule_file.parent / f"{alert}.test.yaml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    done = promtool.run("test", "rules", test_file.name, cwd=rule_file.parent)
    assert done.returncode == 0, done.stdout + done.stderr


def test_without_worker_or_backups_their_alerts_are_left_out() -> None:
    names = alert_names(rule_groups(CONFIG, NAMESPACE, worker=False, backups=False))
    assert "FastapiServiceImportBacklog" not in names
    assert "FastapiServiceBackupTooOld" not in names


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    # As recording rules, so promtool parses each one (Grafana's $__rate_interval as a window it knows).
    queries = [expr.replace(RATE_WINDOW, "5m") for expr in expressions(dashboard(NAMESPACE, worker=True))]
    rules = [{"record": f"dashboard:query_{index}", "expr": expr} for index, expr in enumerate(queries)]
    (tmp_path / "dashboard.yaml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = promtool.run("check", "rules", "dashboard.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
