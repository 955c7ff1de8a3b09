"""The FastAPI service on Kubernetes: settings, secrets, the migration Job, and the rollout.

The component lists the objects it creates; the specs are pure functions of their inputs below.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.config import AppConfig, Ingress
from components.endpoints import CacheEndpoint, DatabaseEndpoint, NetworkPeer, PodSelector
from components.image import PullCredentials
from components.passwords import given_or_generated

APP_NAME = "fastapi-service"
SECRETS_DIR = "/run/secrets/app"
MIGRATE_COMMAND = ["python", "-m", "service", "migrate"]
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"


@dataclass(frozen=True)
class AppServiceArgs:
    config: AppConfig
    environment: str
    namespace: pulumi.Input[str]
    image_reference: pulumi.Input[str]
    database: DatabaseEndpoint
    cache: CacheEndpoint
    pull_credentials: PullCredentials | None = None
    api_keys: pulumi.Output[str] | None = None  # from secret config; else one is generated


@dataclass(frozen=True)
class PodReferences:
    """The names a pod spec refers to: its ServiceAccount, settings, secrets, pull secret."""

    account: pulumi.Input[str]
    settings: pulumi.Input[str]
    secrets: pulumi.Input[str]
    pull_secret: pulumi.Input[str] | None


@dataclass(frozen=True)
class AppRuntime:
    """What other workloads on the service's image share with the API (the worker)."""

    image: pulumi.Input[str]
    settings: pulumi.Input[str]  # the settings ConfigMap
    secrets: pulumi.Input[str]  # the secret files' Secret
    pull_secret: pulumi.Input[str] | None
    settings_checksum: pulumi.Output[str]
    secrets_checksum: pulumi.Output[str]
    migration: k8s.batch.v1.Job  # runs before any pod of a new image


class AppService(pulumi.ComponentResource):
    """Migrate, then roll out the API with zero downtime; scale, protect and expose it."""

    url: pulumi.Output[str]  # in-cluster URL of the API
    ingress_url: pulumi.Output[str] | None  # public URL, when an ingress is enabled
    api_key: pulumi.Output[str]  # the key(s) clients send, secret
    network_peer: NetworkPeer  # the API pods and port, for the network policies
    database_clients: list[PodSelector]  # the API and migration pods, which must reach MySQL
    runtime: AppRuntime  # for the worker

    def __init__(self, name: str, args: AppServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fastapi-service:app:AppService", name, None, opts)
        config, child = args.config, pulumi.ResourceOptions(parent=self)
        api_selector = {**kube.selector(APP_NAME, name), "app.kubernetes.io/component": "api"}
        migration_selector = {**kube.selector(APP_NAME, name), "app.kubernetes.io/component": "migration"}
        self.api_key = given_or_generated(f"{name}-api-key", args.api_keys, parent=self, length=40)

        account = k8s.core.v1.ServiceAccount(
            name,
            metadata=_metadata(args.namespace, name, "api", name),
            automount_service_account_token=False,  # the service never calls the Kubernetes API
            opts=child,
        )
        settings_env = settings(args.config, args.environment, args.database, args.cache)
        settings_map = k8s.core.v1.ConfigMap(
            f"{name}-settings", metadata=_metadata(args.namespace, name, "api"), data=settings_env, opts=child
        )
        files = secret_files(args.database, args.cache, self.api_key)
        secret = k8s.core.v1.Secret(
            f"{name}-secrets", metadata=_metadata(args.namespace, name, "api"), type="Opaque", string_data=files, opts=child
        )
        pull_secret = None
        if args.pull_credentials is not None:
            pull_secret = k8s.core.v1.Secret(
                f"{name}-registry",
                metadata=_metadata(args.namespace, name, "api"),
                type="kubernetes.io/dockerconfigjson",
                string_data={".dockerconfigjson": docker_config(args.pull_credentials)},
                opts=child,
            )
        references = PodReferences(
            account.metadata.name, settings_map.metadata.name, secret.metadata.name, pull_secret.metadata.name if pull_secret else None
        )
        migration = k8s.batch.v1.Job(
            f"{name}-migrate",
            metadata={**_metadata(args.namespace, name, "migration"), "name": migration_job_name(name, args.image_reference)},
            spec=migration_job_spec(config, name, args.image_reference, references),
            opts=pulumi.ResourceOptions(
                parent=self, delete_before_replace=False, custom_timeouts=pulumi.CustomTimeouts(create="10m", update="10m")
            ),
        )
        settings_checksum, secrets_checksum = checksum(settings_env), checksum(files)
        deployment = k8s.apps.v1.Deployment(
            name,
            metadata=_metadata(args.namespace, name, "api", name),
            spec=deployment_spec(
                config,
                name=name,
                selector=api_selector,
                image=args.image_reference,
                references=references,
                settings_checksum=settings_checksum,
                secrets_checksum=secrets_checksum,
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                # The migration completes before any pod is replaced: a failed one stops `pulumi up`.
                depends_on=[migration],
                # The HPA owns the replica count once it exists.
                ignore_changes=["spec.replicas"] if config.autoscaling.enabled else None,
            ),
        )
        service = k8s.core.v1.Service(
            name,
            metadata=_metadata(args.namespace, name, "api", name),
            spec={
                "type": "ClusterIP",
                "selector": api_selector,
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
            opts=child,
        )
        if config.autoscaling.enabled:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                name,
                metadata=_metadata(args.namespace, name, "api", name),
                spec=autoscaler_spec(config, deployment.metadata.name),
                opts=child,
            )
        if config.replicas >= 2 or config.autoscaling.enabled:
            k8s.policy.v1.PodDisruptionBudget(
                name,
                metadata=_metadata(args.namespace, name, "api", name),
                spec={"maxUnavailable": 1, "selector": {"matchLabels": api_selector}},
                opts=child,
            )
        self.ingress_url = None
        if config.ingress.enabled:
            ingress = config.ingress
            k8s.networking.v1.Ingress(
                name,
                metadata={**_metadata(args.namespace, name, "api", name), "annotations": ingress_annotations(ingress)},
                spec=ingress_spec(ingress, name, service.metadata.name),
                opts=child,
            )
            self.ingress_url = pulumi.Output.from_input(f"{'https' if ingress.tls else 'http'}://{ingress.host}/")

        self.url = pulumi.Output.concat("http://", service.metadata.name, ".", args.namespace, ".svc.cluster.local")
        self.network_peer = NetworkPeer(pod_selector=api_selector, port=config.port)
        self.database_clients = [api_selector, migration_selector]
        self.runtime = AppRuntime(
            args.image_reference,
            references.settings,
            references.secrets,
            references.pull_secret,
            settings_checksum,
            secrets_checksum,
            migration,
        )
        self.register_outputs({"url": self.url, "ingressUrl": self.ingress_url})


# ---------------------------------------------------------------------------------------
# Settings and secrets


def settings(config: AppConfig, environment: str, database: DatabaseEndpoint, cache: CacheEndpoint) -> dict[str, pulumi.Input[str]]:
    """Non-secret settings as the service's environment (names are the service's Settings fields)."""
    return {
        "APP_ENV": environment,
        "LOG_LEVEL": config.log_level.upper(),
        "SERVICE_HOST": "0.0.0.0",  # noqa: S104 - a pod listens on its own interface
        "SERVICE_PORT": str(config.port),
        "WORKERS": str(config.workers),
        "GRACEFUL_SHUTDOWN_TIMEOUT": str(config.shutdown_timeout_seconds),
        "CORS_ORIGINS": ",".join(config.cors_origins),
        "DB_HOST": database.host,
        "DB_PORT": str(database.port),
        "DB_NAME": database.database,
        "DB_USER": database.user,
        "REDIS_HOST": cache.host,
        "REDIS_PORT": str(cache.port),
        "CACHE_TTL_SECONDS": str(config.cache_ttl_seconds),
        "SECRETS_DIR": SECRETS_DIR,
    }


def secret_files(database: DatabaseEndpoint, cache: CacheEndpoint, api_keys: pulumi.Output[str]) -> dict[str, pulumi.Input[str]]:
    """File name -> content under SECRETS_DIR; every value stays a secret Output."""
    return {"db_password": database.password, "redis_password": cache.password, "api_keys": api_keys}


def docker_config(credentials: PullCredentials) -> pulumi.Output[str]:
    """A .dockerconfigjson, built inside apply from the secret password, so it stays secret."""
    return credentials.password.apply(
        lambda password: json.dumps(
            {
                "auths": {
                    credentials.server: {
                        "username": credentials.username,
                        "auth": base64.b64encode(f"{credentials.username}:{password}".encode()).decode(),
                    }
                }
            }
        )
    )


# ---------------------------------------------------------------------------------------
# Pods


def migration_job_name(name: str, image_reference: pulumi.Input[str]) -> pulumi.Output[str]:
    """Named after the image: a new image is a new Job, so every image migrates before it serves."""
    return pulumi.Output.from_input(image_reference).apply(
        lambda reference: f"{name}-migrate-{hashlib.sha256(reference.encode()).hexdigest()[:10]}"
    )


def migration_job_spec(config: AppConfig, name: str, image: pulumi.Input[str], references: PodReferences) -> k8s.batch.v1.JobSpecArgsDict:
    return {
        "backoffLimit": 2,
        "activeDeadlineSeconds": 600,
        "template": {
            "metadata": {"labels": kube.labels(APP_NAME, name, "migration")},
            "spec": {
                **pod_spec_base(references),
                "restartPolicy": "Never",
                "containers": [{**container(config, "migrate", image, references), "command": MIGRATE_COMMAND}],
            },
        },
    }


def deployment_spec(
    config: AppConfig,
    *,
    name: str,
    selector: PodSelector,
    image: pulumi.Input[str],
    references: PodReferences,
    settings_checksum: pulumi.Output[str],
    secrets_checksum: pulumi.Output[str],
) -> k8s.apps.v1.DeploymentSpecArgsDict:
    pod_annotations = {
        # A settings or secret change must restart the pods: they read both at start-up.
        # A sha256 of the secret files reveals nothing usable, so it need not taint the spec.
        "checksum/settings": settings_checksum,
        "checksum/secrets": pulumi.Output.unsecret(secrets_checksum),
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(config.port),
        "prometheus.io/path": METRICS_PATH,
    }
    api = {
        **container(config, "api", image, references),
        "ports": [{"name": "http", "containerPort": config.port, "protocol": "TCP"}],
        "startupProbe": _http_probe(HEALTH_PATH, period=2, failures=30),
        "readinessProbe": _http_probe(READY_PATH, period=5, failures=2),
        "livenessProbe": _http_probe(HEALTH_PATH, period=10, failures=3),
        # Keep serving while the endpoint removal reaches every node's proxy, then SIGTERM.
        "lifecycle": {"preStop": {"sleep": {"seconds": config.pre_stop_seconds}}},
    }
    pod: dict[str, object] = {
        **pod_spec_base(references),
        "containers": [api],
        # preStop + uvicorn's graceful-shutdown bound + margin: the kubelet never SIGKILLs a clean drain.
        "terminationGracePeriodSeconds": config.pre_stop_seconds + config.shutdown_timeout_seconds + 10,
    }
    if config.topology_spread:
        pod["topologySpreadConstraints"] = topology_spread(selector)
    return {
        "replicas": config.replicas,
        "revisionHistoryLimit": 5,
        "progressDeadlineSeconds": 300,
        "selector": {"matchLabels": selector},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {"metadata": {"labels": kube.labels(APP_NAME, name, "api"), "annotations": pod_annotations}, "spec": pod},
    }


def pod_spec_base(references: PodReferences) -> dict[str, object]:
    spec: dict[str, object] = {
        "serviceAccountName": references.account,
        "automountServiceAccountToken": False,
        "securityContext": kube.pod_security(),
        "volumes": [{"name": "secrets", "secret": {"secretName": references.secrets, "defaultMode": 0o400}}, kube.tmp_volume()],
    }
    if references.pull_secret is not None:
        spec["imagePullSecrets"] = [{"name": references.pull_secret}]
    return spec


def container(config: AppConfig, container_name: str, image: pulumi.Input[str], references: PodReferences) -> dict[str, object]:
    return {
        "name": container_name,
        "image": image,
        "imagePullPolicy": "Always",
        "envFrom": [{"configMapRef": {"name": references.settings}}],
        "resources": config.resources.model_dump(),
        "securityContext": kube.container_security(),
        "volumeMounts": [
            {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, private to the pod
        ],
    }


def topology_spread(selector: PodSelector) -> list[dict[str, object]]:
    # ScheduleAnyway: spread when the cluster allows it, never leave a pod Pending for it.
    return [
        {"maxSkew": 1, "topologyKey": topology_key, "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": selector}}
        for topology_key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
    ]


# ---------------------------------------------------------------------------------------
# Scaling and exposure


def autoscaler_spec(config: AppConfig, deployment: pulumi.Input[str]) -> k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgsDict:
    scaling = config.autoscaling
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "minReplicas": scaling.min_replicas,
        "maxReplicas": scaling.max_replicas,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": scaling.target_cpu_utilization}},
            }
        ],
        # Scale in slowly: a traffic dip shouldn't drop capacity the next burst needs.
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}},
    }


def ingress_annotations(ingress: Ingress) -> dict[str, str]:
    if ingress.tls is not None and ingress.tls.cluster_issuer:
        return {"cert-manager.io/cluster-issuer": ingress.tls.cluster_issuer}
    return {}


def ingress_spec(ingress: Ingress, name: str, service: pulumi.Input[str]) -> k8s.networking.v1.IngressSpecArgsDict:
    tls: list[k8s.networking.v1.IngressTLSArgsDict] = []
    if ingress.tls is not None:
        tls = [{"hosts": [ingress.host], "secretName": ingress.tls.secret_name or f"{name}-tls"}]
    return {
        "ingressClassName": ingress.class_name,
        "tls": tls,
        "rules": [
            {
                "host": ingress.host,
                "http": {
                    "paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": service, "port": {"name": "http"}}}}]
                },
            }
        ],
    }


# ---------------------------------------------------------------------------------------


def _metadata(namespace: pulumi.Input[str], instance: str, component: str, name: str | None = None) -> k8s.meta.v1.ObjectMetaArgsDict:
    metadata: k8s.meta.v1.ObjectMetaArgsDict = {"namespace": namespace, "labels": kube.labels(APP_NAME, instance, component)}
    if name is not None:
        metadata["name"] = name
    return metadata


def _http_probe(path: str, *, period: int, failures: int) -> dict[str, object]:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "timeoutSeconds": 2, "failureThreshold": failures}


def checksum(data: dict[str, pulumi.Input[str]]) -> pulumi.Output[str]:
    """A digest of settings or secret files: in a pod template's annotations, a change rolls the pods."""
    return pulumi.Output.all(**data).apply(lambda values: hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest())
