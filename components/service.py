"""The FastAPI service on Kubernetes: settings, secrets, the migration Job, and the rollout."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import kube
from components.config import AppConfig
from components.endpoints import CacheEndpoint, DatabaseEndpoint, NetworkPeer
from components.image import PullCredentials

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
    provider: k8s.Provider
    image_reference: pulumi.Input[str]
    database: DatabaseEndpoint
    cache: CacheEndpoint
    pull_credentials: PullCredentials | None = None
    api_keys: pulumi.Output[str] | None = None
    secret_key: pulumi.Output[str] | None = None


class AppService(pulumi.ComponentResource):
    """Migrate, then roll out the API with zero downtime; scale, protect and expose it."""

    def __init__(self, name: str, args: AppServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fastapi-service:app:AppService", name, None, opts)
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        config = args.config
        self.pod_selector = {**kube.selector(APP_NAME, name), "app.kubernetes.io/component": "api"}
        self.migration_selector = {**kube.selector(APP_NAME, name), "app.kubernetes.io/component": "migration"}

        self.api_key = self._api_keys()
        account = k8s.core.v1.ServiceAccount(
            name,
            metadata=self._metadata(name, "api"),
            automount_service_account_token=False,  # the service never calls the Kubernetes API
            opts=self._child,
        )
        settings_data, secret_files = self._settings(), self._secret_files()
        settings = k8s.core.v1.ConfigMap(f"{name}-settings", metadata=self._metadata(None, "api"), data=settings_data, opts=self._child)
        secret = k8s.core.v1.Secret(
            f"{name}-secrets", metadata=self._metadata(None, "api"), type="Opaque", string_data=secret_files, opts=self._child
        )
        pull_secret = self._pull_secret()
        self._pod = _PodInputs(
            account=account.metadata.name,
            settings=settings.metadata.name,
            secret=secret.metadata.name,
            pull_secret=pull_secret.metadata.name if pull_secret else None,
        )
        migration = self._migration_job()
        deployment = self._deployment(migration, _checksum(settings_data), _checksum(secret_files))
        service = k8s.core.v1.Service(
            name,
            metadata=self._metadata(name, "api"),
            spec={
                "type": "ClusterIP",
                "selector": self.pod_selector,
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
            opts=self._child,
        )
        if config.autoscaling.enabled:
            self._autoscaler(deployment)
        if config.replicas >= 2 or config.autoscaling.enabled:
            self._disruption_budget()
        self.ingress_url: pulumi.Output[str] | None = self._ingress(service) if config.ingress.enabled else None

        self.url = pulumi.Output.concat("http://", service.metadata.name, ".", args.namespace, ".svc.cluster.local")
        self.migration_job = migration.metadata.name
        self.network_peer = NetworkPeer(pod_selector=self.pod_selector, port=config.port)
        self.database_clients = [self.pod_selector, self.migration_selector]
        self.register_outputs({"url": self.url, "ingressUrl": self.ingress_url, "migrationJob": self.migration_job})

    # -- settings and secrets -------------------------------------------------------------

    def _metadata(self, name: str | None, component: str) -> k8s.meta.v1.ObjectMetaArgsDict:
        metadata: k8s.meta.v1.ObjectMetaArgsDict = {
            "namespace": self._args.namespace,
            "labels": kube.labels(APP_NAME, self._name, component),
        }
        if name is not None:
            metadata["name"] = name
        return metadata

    def _settings(self) -> dict[str, pulumi.Input[str]]:
        """Non-secret settings as the service's environment (names are the service's Settings fields)."""
        config, database, cache = self._args.config, self._args.database, self._args.cache
        return {
            "APP_ENV": self._args.environment,
            "DEBUG": "false",
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

    def _api_keys(self) -> pulumi.Output[str]:
        if self._args.api_keys is not None:
            return self._args.api_keys
        generated = random.RandomPassword(f"{self._name}-api-key", length=40, special=False, opts=pulumi.ResourceOptions(parent=self))
        # The provider marks `result` secret; say so here too, so no code path can leak it.
        return pulumi.Output.secret(generated.result)

    def _secret_files(self) -> dict[str, pulumi.Input[str]]:
        """File name -> content under SECRETS_DIR; every value stays a secret Output."""
        secret_key = self._args.secret_key
        if secret_key is None:
            secret_key = pulumi.Output.secret(
                random.RandomPassword(f"{self._name}-secret-key", length=64, special=False, opts=pulumi.ResourceOptions(parent=self)).result
            )
        return {
            "db_password": self._args.database.password,
            "redis_password": self._args.cache.password,
            "api_keys": self.api_key,
            "secret_key": secret_key,
        }

    def _pull_secret(self) -> k8s.core.v1.Secret | None:
        credentials = self._args.pull_credentials
        if credentials is None:
            return None
        # Built inside apply from a secret, so the result stays secret.
        config_json: pulumi.Output[str] = credentials.password.apply(
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
        return k8s.core.v1.Secret(
            f"{self._name}-registry",
            metadata=self._metadata(None, "api"),
            type="kubernetes.io/dockerconfigjson",
            string_data={".dockerconfigjson": config_json},
            opts=self._child,
        )

    # -- workloads --------------------------------------------------------------------------

    def _migration_job(self) -> k8s.batch.v1.Job:
        """Alembic upgrade as a Job named after the image digest: a new image, a new Job.

        Pulumi waits for the Job to complete; the Deployment depends on it, so a failed
        migration stops `pulumi up` before any pod is replaced (old pods keep serving).
        """
        job_name = pulumi.Output.from_input(self._args.image_reference).apply(
            lambda reference: f"{self._name}-migrate-{hashlib.sha256(reference.encode()).hexdigest()[:10]}"
        )
        return k8s.batch.v1.Job(
            f"{self._name}-migrate",
            metadata={**self._metadata(None, "migration"), "name": job_name},
            spec={
                "backoffLimit": 2,
                "activeDeadlineSeconds": 600,
                "template": {
                    "metadata": {"labels": kube.labels(APP_NAME, self._name, "migration")},
                    "spec": {
                        **self._pod_spec_base(),
                        "restartPolicy": "Never",
                        "containers": [{**self._container("migrate"), "command": MIGRATE_COMMAND}],
                    },
                },
            },
            opts=pulumi.ResourceOptions.merge(
                self._child,
                pulumi.ResourceOptions(
                    delete_before_replace=False,
                    custom_timeouts=pulumi.CustomTimeouts(create="10m", update="10m"),
                ),
            ),
        )

    def _deployment(
        self, migration: k8s.batch.v1.Job, settings_checksum: pulumi.Output[str], secrets_checksum: pulumi.Output[str]
    ) -> k8s.apps.v1.Deployment:
        config = self._args.config
        pod_annotations = {
            # A settings or secret change must restart the pods: they read both at start-up.
            # A sha256 of the secret files reveals nothing usable, so it need not taint the spec.
            "checksum/settings": settings_checksum,
            "checksum/secrets": pulumi.Output.unsecret(secrets_checksum),
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(config.port),
            "prometheus.io/path": METRICS_PATH,
        }
        container = {
            **self._container("api"),
            "ports": [{"name": "http", "containerPort": config.port, "protocol": "TCP"}],
            "startupProbe": _http_probe(HEALTH_PATH, period=2, failures=30),
            "readinessProbe": _http_probe(READY_PATH, period=5, failures=2),
            "livenessProbe": _http_probe(HEALTH_PATH, period=10, failures=3),
            # Keep serving while the endpoint removal reaches every node's proxy, then SIGTERM.
            "lifecycle": {"preStop": {"sleep": {"seconds": config.pre_stop_seconds}}},
        }
        spec: dict[str, object] = {
            **self._pod_spec_base(),
            "containers": [container],
            # preStop + uvicorn's graceful-shutdown bound + margin: the kubelet never SIGKILLs a clean drain.
            "terminationGracePeriodSeconds": config.pre_stop_seconds + config.shutdown_timeout_seconds + 10,
        }
        if config.topology_spread:
            spec["topologySpreadConstraints"] = self._topology_spread()
        return k8s.apps.v1.Deployment(
            self._name,
            metadata=self._metadata(self._name, "api"),
            spec={
                "replicas": config.replicas,
                "revisionHistoryLimit": 5,
                "progressDeadlineSeconds": 300,
                "selector": {"matchLabels": self.pod_selector},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": {
                    "metadata": {"labels": kube.labels(APP_NAME, self._name, "api"), "annotations": pod_annotations},
                    "spec": spec,
                },
            },
            opts=pulumi.ResourceOptions.merge(
                self._child,
                pulumi.ResourceOptions(
                    depends_on=[migration],
                    # The HPA owns the replica count once it exists.
                    ignore_changes=["spec.replicas"] if config.autoscaling.enabled else None,
                ),
            ),
        )

    def _pod_spec_base(self) -> dict[str, object]:
        spec: dict[str, object] = {
            "serviceAccountName": self._pod.account,
            "automountServiceAccountToken": False,
            "securityContext": kube.pod_security(),
            "volumes": [
                {"name": "secrets", "secret": {"secretName": self._pod.secret, "defaultMode": 0o400}},
                kube.tmp_volume(),
            ],
        }
        if self._pod.pull_secret is not None:
            spec["imagePullSecrets"] = [{"name": self._pod.pull_secret}]
        return spec

    def _container(self, container_name: str) -> dict[str, object]:
        config = self._args.config
        return {
            "name": container_name,
            "image": self._args.image_reference,
            "imagePullPolicy": "Always",
            "envFrom": [{"configMapRef": {"name": self._pod.settings}}],
            "resources": config.resources.model_dump(),
            "securityContext": kube.container_security(),
            "volumeMounts": [
                {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True},
                {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, private to the pod
            ],
        }

    def _topology_spread(self) -> list[dict[str, object]]:
        # ScheduleAnyway: spread when the cluster allows it, never leave a pod Pending for it.
        return [
            {
                "maxSkew": 1,
                "topologyKey": topology_key,
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": self.pod_selector},
            }
            for topology_key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
        ]

    # -- scaling, disruption, exposure -----------------------------------------------------

    def _autoscaler(self, deployment: k8s.apps.v1.Deployment) -> None:
        scaling = self._args.config.autoscaling
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            self._name,
            metadata=self._metadata(self._name, "api"),
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
                # Scale in slowly: a traffic dip shouldn't drop capacity the next burst needs.
                "behavior": {
                    "scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}
                },
            },
            opts=self._child,
        )

    def _disruption_budget(self) -> None:
        k8s.policy.v1.PodDisruptionBudget(
            self._name,
            metadata=self._metadata(self._name, "api"),
            spec={"maxUnavailable": 1, "selector": {"matchLabels": self.pod_selector}},
            opts=self._child,
        )

    def _ingress(self, service: k8s.core.v1.Service) -> pulumi.Output[str]:
        ingress = self._args.config.ingress
        annotations: dict[str, str] = {}
        tls: list[dict[str, object]] = []
        if ingress.tls is not None:
            secret_name = ingress.tls.secret_name or f"{self._name}-tls"
            tls = [{"hosts": [ingress.host], "secretName": secret_name}]
            if ingress.tls.cluster_issuer:
                annotations["cert-manager.io/cluster-issuer"] = ingress.tls.cluster_issuer
        k8s.networking.v1.Ingress(
            self._name,
            metadata={**self._metadata(self._name, "api"), "annotations": annotations},
            spec={
                "ingressClassName": ingress.class_name,
                "tls": tls,
                "rules": [
                    {
                        "host": ingress.host,
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": service.metadata.name, "port": {"name": "http"}}},
                                }
                            ]
                        },
                    }
                ],
            },
            opts=self._child,
        )
        scheme = "https" if tls else "http"
        return pulumi.Output.from_input(f"{scheme}://{ingress.host}/")


@dataclass(frozen=True)
class _PodInputs:
    account: pulumi.Output[str]
    settings: pulumi.Output[str]
    secret: pulumi.Output[str]
    pull_secret: pulumi.Output[str] | None


def _http_probe(path: str, *, period: int, failures: int) -> dict[str, object]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _checksum(data: dict[str, pulumi.Input[str]]) -> pulumi.Output[str]:
    return pulumi.Output.all(**data).apply(lambda values: hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest())
