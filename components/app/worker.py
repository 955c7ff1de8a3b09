"""The Celery worker: background jobs (bulk imports) from the Redis broker, on the API's image,
settings and secrets, rolled with them, started only after the migration Job."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.app.runtime import APP_NAME, AppRuntime, PodReferences, app_container, pod_spec_base, traced_as
from components.config import WorkerConfig
from components.kube import PodSelector
from components.kube.workloads import (
    checksum,
    exec_probe,
    replicas_owned_elsewhere,
    scaling_and_disruption,
    surge_rollout,
    topology_spread,
)

WORKER_COMMAND = ["python", "-m", "service", "worker"]
# Liveness reads a heartbeat file the worker keeps fresh (no broker round trip, no `celery inspect`);
# readiness pings the broker.
ALIVE_COMMAND = ["python", "-m", "service", "worker-alive"]
READY_COMMAND = ["python", "-m", "service", "worker-ready"]
METRICS_PORT = 9540
# After the hard time limit kills a task, Celery's warm shutdown still needs a moment to ack and exit.
SHUTDOWN_MARGIN_SECONDS = 30
# A Python start per probe: a generous timeout on a busy node.
PROBE_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class WorkerArgs:
    config: WorkerConfig
    namespace: pulumi.Input[str]
    app: AppRuntime  # the API's image, settings and secrets, and its migration Job


class Worker(pulumi.ComponentResource):
    """Worker pods: no token, restricted, no inbound traffic; a PDB and an HPA as configured."""

    pod_selector: PodSelector  # the worker pods, which MySQL and Redis must admit

    def __init__(self, name: str, args: WorkerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fastapi-service:app:Worker", name, None, opts)
        config, child = args.config, pulumi.ResourceOptions(parent=self)
        labels = kube.labels(APP_NAME, name, "worker")
        self.pod_selector = {**kube.selector(APP_NAME, name), "app.kubernetes.io/component": "worker"}

        account = k8s.core.v1.ServiceAccount(
            name, metadata=kube.metadata(name, args.namespace, labels), automount_service_account_token=False, opts=child
        )
        worker_env = {**settings(config), **(traced_as("worker") if args.app.traced else {})}
        worker_settings = k8s.core.v1.ConfigMap(
            f"{name}-settings", metadata=kube.metadata(None, args.namespace, labels), data=worker_env, opts=child
        )
        deployment = k8s.apps.v1.Deployment(
            name,
            metadata=kube.metadata(name, args.namespace, labels),
            spec=deployment_spec(
                config,
                labels=labels,
                selector=self.pod_selector,
                app=args.app,
                references=PodReferences(account.metadata.name, args.app.settings, args.app.secrets, args.app.pull_secret),
                worker_settings=worker_settings.metadata.name,
                settings_checksum=checksum({"app": args.app.settings_checksum, "worker": checksum(worker_env)}),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                # A new image migrates before any worker of it runs a task.
                depends_on=[args.app.migration],
                ignore_changes=replicas_owned_elsewhere(config.autoscaling),
            ),
        )
        scaling_and_disruption(
            name,
            metadata=kube.metadata(name, args.namespace, labels),
            deployment=deployment.metadata.name,
            selector=self.pod_selector,
            replicas=config.replicas,
            autoscaling=config.autoscaling,
            opts=child,
        )
        self.register_outputs({"podSelector": self.pod_selector})


def settings(config: WorkerConfig) -> dict[str, pulumi.Input[str]]:
    """The worker's own settings, beside the API's (names are the service's Settings fields)."""
    return {
        "WORKER_CONCURRENCY": str(config.concurrency),
        "WORKER_POOL": config.pool,
        "WORKER_QUEUES": ",".join(config.queues),
        "WORKER_PREFETCH_MULTIPLIER": str(config.prefetch_multiplier),
        "WORKER_MAX_TASKS_PER_CHILD": str(config.max_tasks_per_child),
        "TASK_SOFT_TIME_LIMIT_SECONDS": str(config.soft_time_limit_seconds),
        "TASK_TIME_LIMIT_SECONDS": str(config.time_limit_seconds),
        "BROKER_VISIBILITY_TIMEOUT_SECONDS": str(config.visibility_timeout_seconds),
        "WORKER_METRICS_PORT": str(METRICS_PORT),
    }


def deployment_spec(
    config: WorkerConfig,
    *,
    labels: dict[str, str],
    selector: PodSelector,
    app: AppRuntime,
    references: PodReferences,
    worker_settings: pulumi.Input[str],
    settings_checksum: pulumi.Output[str],
) -> k8s.apps.v1.DeploymentSpecArgsDict:
    base = app_container("worker", app.image, references, config.resources)
    container: k8s.core.v1.ContainerArgsDict = {
        **base,
        "command": [*WORKER_COMMAND, *config.extra_args],
        "envFrom": [*base["envFrom"], {"configMapRef": {"name": worker_settings}}],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "startupProbe": exec_probe(ALIVE_COMMAND, period=5, failures=24, timeout=PROBE_TIMEOUT_SECONDS),
        "livenessProbe": exec_probe(ALIVE_COMMAND, period=30, failures=3, timeout=PROBE_TIMEOUT_SECONDS),
        "readinessProbe": exec_probe(READY_COMMAND, period=15, failures=2, timeout=PROBE_TIMEOUT_SECONDS),
        # /tmp (the base's emptyDir) also holds the heartbeat file the liveness probe reads.
    }
    pod: k8s.core.v1.PodSpecArgsDict = {
        **pod_spec_base(references),
        # SIGTERM is Celery's warm shutdown: running tasks finish, up to the hard time limit.
        "terminationGracePeriodSeconds": config.time_limit_seconds + SHUTDOWN_MARGIN_SECONDS,
        "containers": [container],
    }
    if config.topology_spread:
        pod["topologySpreadConstraints"] = topology_spread(selector)
    return {
        "replicas": config.replicas,
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": selector},
        # A new worker before an old one stops: queued jobs keep moving during a rollout.
        "strategy": surge_rollout(),
        "template": {
            "metadata": {
                "labels": labels,
                "annotations": {"checksum/settings": settings_checksum, "checksum/secrets": pulumi.Output.unsecret(app.secrets_checksum)},
            },
            "spec": pod,
        },
    }
