"""The Celery worker: background jobs (bulk imports) from the Redis broker, on the API's image,
settings and secrets, rolled with them, started only after the migration Job."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.config import WorkerConfig
from components.endpoints import PodSelector
from components.service import APP_NAME, SECRETS_DIR, AppRuntime, checksum

WORKER_COMMAND = ["python", "-m", "service", "worker"]
# Liveness reads a heartbeat file the worker keeps fresh (no broker round trip, no `celery inspect`);
# readiness pings the broker.
ALIVE_COMMAND = ["python", "-m", "service", "worker-alive"]
READY_COMMAND = ["python", "-m", "service", "worker-ready"]
METRICS_PORT = 9540
# After the hard time limit kills a task, Celery's warm shutdown still needs a moment to ack and exit.
SHUTDOWN_MARGIN_SECONDS = 30


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
        worker_env = settings(config)
        worker_settings = k8s.core.v1.ConfigMap(
            f"{name}-settings", metadata={"namespace": args.namespace, "labels": labels}, data=worker_env, opts=child
        )
        deployment = k8s.apps.v1.Deployment(
            name,
            metadata=kube.metadata(name, args.namespace, labels),
            spec=deployment_spec(
                config,
                labels=labels,
                selector=self.pod_selector,
                app=args.app,
                account=account.metadata.name,
                worker_settings=worker_settings.metadata.name,
                settings_checksum=checksum({"app": args.app.settings_checksum, "worker": checksum(worker_env)}),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                # A new image migrates before any worker of it runs a task.
                depends_on=[args.app.migration],
                ignore_changes=["spec.replicas"] if config.autoscaling.enabled else None,
            ),
        )
        if config.autoscaling.enabled:
            scaling = config.autoscaling
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                name,
                metadata=kube.metadata(name, args.namespace, labels),
                spec={
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment.metadata.name},
                    "minReplicas": scaling.min_replicas,
                    "maxReplicas": scaling.max_replicas,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": scaling.target_cpu_utilization},
                            },
                        }
                    ],
                },
                opts=child,
            )
        if config.replicas >= 2 or config.autoscaling.enabled:
            k8s.policy.v1.PodDisruptionBudget(
                name,
                metadata=kube.metadata(name, args.namespace, labels),
                spec={"maxUnavailable": 1, "selector": {"matchLabels": self.pod_selector}},
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
    account: pulumi.Input[str],
    worker_settings: pulumi.Input[str],
    settings_checksum: pulumi.Output[str],
) -> k8s.apps.v1.DeploymentSpecArgsDict:
    container: k8s.core.v1.ContainerArgsDict = {
        "name": "worker",
        "image": app.image,
        "imagePullPolicy": "Always",
        "command": [*WORKER_COMMAND, *config.extra_args],
        "envFrom": [{"configMapRef": {"name": app.settings}}, {"configMapRef": {"name": worker_settings}}],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "resources": config.resources.model_dump(),
        "securityContext": kube.container_security(),
        "startupProbe": _exec_probe(ALIVE_COMMAND, period=5, failures=24),
        "livenessProbe": _exec_probe(ALIVE_COMMAND, period=30, failures=3),
        "readinessProbe": _exec_probe(READY_COMMAND, period=15, failures=2),
        "volumeMounts": [
            {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - the heartbeat file, an emptyDir private to the pod
        ],
    }
    pod: k8s.core.v1.PodSpecArgsDict = {
        "serviceAccountName": account,
        "automountServiceAccountToken": False,  # the worker never calls the Kubernetes API
        "enableServiceLinks": False,
        "securityContext": kube.pod_security(),
        # SIGTERM is Celery's warm shutdown: running tasks finish, up to the hard time limit.
        "terminationGracePeriodSeconds": config.time_limit_seconds + SHUTDOWN_MARGIN_SECONDS,
        "containers": [container],
        "volumes": [{"name": "secrets", "secret": {"secretName": app.secrets, "defaultMode": 0o400}}, kube.tmp_volume()],
    }
    if app.pull_secret is not None:
        pod["imagePullSecrets"] = [{"name": app.pull_secret}]
    return {
        "replicas": config.replicas,
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": selector},
        # A new worker before an old one stops: queued jobs keep moving during a rollout.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {
            "metadata": {
                "labels": labels,
                "annotations": {"checksum/settings": settings_checksum, "checksum/secrets": pulumi.Output.unsecret(app.secrets_checksum)},
            },
            "spec": pod,
        },
    }


def _exec_probe(command: list[str], *, period: int, failures: int) -> k8s.core.v1.ProbeArgsDict:
    # A Python start per probe: a generous timeout on a busy node.
    return {"exec": {"command": command}, "periodSeconds": period, "timeoutSeconds": 10, "failureThreshold": failures}
