"""The PromQL the alerts and the dashboard share: which series are the stack's, and what they mean.

Every metric named here is one the service exports (app/src/service/metrics.py: the API;
app/src/service/jobs/metrics.py: the worker), or one of the few listed in EXTERNAL_METRICS that
Prometheus or kube-state-metrics produce about them; tests/components/monitoring checks both
against a live /metrics. The ServiceMonitor's jobLabel makes the jobs `api` and `worker`, and
prometheus-operator labels every target with its namespace: both pick the stack's series out of
a Prometheus that scrapes many.
"""

from __future__ import annotations

API_JOB = "api"
WORKER_JOB = "worker"
# The service's probe and scrape routes (service/api/health.py): not what clients see.
PROBE_ROUTES = "/healthz|/readyz|/metrics"
# POST /api/v1/imports answers 202 once the import's task is queued (service/api/imports.py),
# and the worker counts each run of that task when it ends (service.jobs: IMPORT_TASK).
IMPORT_ROUTE = "/api/v1/imports"
IMPORT_TASK = "service.import_items"

# Metrics the rules read that the service does not export, and who does.
EXTERNAL_METRICS = {
    "up": "Prometheus itself, one series per scrape target",
    "kube_cronjob_status_last_successful_time": "kube-state-metrics (kube-prometheus-stack installs it)",
    "kube_cronjob_created": "kube-state-metrics (kube-prometheus-stack installs it)",
}


def selector(namespace: str, job: str, *matchers: str) -> str:
    """`{namespace="...",job="...",<matchers>}`: the stack's series of one job."""
    return "{" + ",".join([f'namespace="{namespace}"', f'job="{job}"', *matchers]) + "}"


def client_requests(namespace: str, *matchers: str) -> str:
    """The API's requests from clients (probes and scrapes left out), as a selector."""
    return selector(namespace, API_JOB, f'route!~"{PROBE_ROUTES}"', *matchers)


def error_ratio(namespace: str, window: str) -> str:
    """The share of client requests answered 5xx."""
    server_errors = client_requests(namespace, 'status=~"5.."')
    failed = f"sum(rate(http_requests_total{server_errors}[{window}]))"
    return f"{failed} / sum(rate(http_requests_total{client_requests(namespace)}[{window}]))"


def latency_quantile(namespace: str, quantile: float, window: str, by: str = "") -> str:
    grouping = ", ".join(["le", *([by] if by else [])])
    buckets = f"sum by ({grouping}) (rate(http_request_duration_seconds_bucket{client_requests(namespace)}[{window}]))"
    return f"histogram_quantile({quantile}, {buckets})"


def import_backlog(namespace: str, window: str) -> str:
    """Imports accepted minus import runs that ended (succeeded or failed; a retry runs again), over `window`.

    The broker's queue itself is not exported: what went in and what came out of it is. `or
    vector(0)` keeps a side with no series yet (no import, or no worker scraped) a zero.
    """
    accepted = selector(namespace, API_JOB, 'method="POST"', f'route="{IMPORT_ROUTE}"', 'status="202"')
    ended = selector(namespace, WORKER_JOB, f'task="{IMPORT_TASK}"', 'state=~"succeeded|failed"')
    return (
        f"(sum(increase(http_requests_total{accepted}[{window}])) or vector(0))"
        f" - (sum(increase(service_worker_tasks_total{ended}[{window}])) or vector(0))"
    )


def backup_age_over(namespace: str, seconds: int) -> str:
    """Each CronJob of the namespace (every one is a server's backup) whose last success is older
    than `seconds`, or that has never succeeded and exists for longer."""
    cronjobs = f'{{namespace="{namespace}"}}'
    succeeded = f"kube_cronjob_status_last_successful_time{cronjobs}"
    return (
        f"(time() - max by (namespace, cronjob) ({succeeded}) > {seconds})"
        f" or ((time() - max by (namespace, cronjob) (kube_cronjob_created{cronjobs}) > {seconds})"
        f" unless on (namespace, cronjob) {succeeded})"
    )
