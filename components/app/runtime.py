"""What every pod on the service's image shares (the API, its migration Job, the worker): the
settings and secret files it reads, the pod and container it runs in."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.build.image import PullCredentials
from components.config import AppConfig, Resources, TracingConfig
from components.data.endpoints import CacheEndpoint, DatabaseEndpoint

APP_NAME = "fastapi-service"
# The service reads its secrets from files here (service.config: SECRETS_DIR), never from env.
SECRETS_DIR = "/run/secrets/app"


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
    traced: bool = False  # the settings turn tracing on: each workload names itself (traced_as)


def app_metadata(
    namespace: pulumi.Input[str], instance: str, component: str, name: pulumi.Input[str] | None = None
) -> k8s.meta.v1.ObjectMetaArgsDict:
    """Metadata of an object of the app's (`name` None: named by Pulumi)."""
    return kube.metadata(name, namespace, kube.labels(APP_NAME, instance, component))


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


def tracing_settings(tracing: TracingConfig, environment: str) -> dict[str, pulumi.Input[str]]:
    """The standard OTEL_* variables the service reads (service/tracing.py); none when tracing is off."""
    if not tracing.enabled or tracing.endpoint is None:
        return {}
    return {
        **traced_as("api"),
        "OTEL_EXPORTER_OTLP_ENDPOINT": tracing.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",  # the only exporter in the image
        # A request's trace is kept or dropped once, by the API; the worker follows the decision.
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": str(tracing.sample_ratio),
        "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment.name={environment},service.namespace={APP_NAME}",
    }


def traced_as(workload: str) -> dict[str, str]:
    """The service name a workload's spans carry (the worker's ConfigMap overrides the API's)."""
    return {"OTEL_SERVICE_NAME": f"{APP_NAME}-{workload}"}


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


def pod_spec_base(references: PodReferences) -> k8s.core.v1.PodSpecArgsDict:
    """The pod every workload on the image runs in: restricted, no API token, secrets as files."""
    spec: k8s.core.v1.PodSpecArgsDict = {
        "serviceAccountName": references.account,
        "automountServiceAccountToken": False,  # the service never calls the Kubernetes API
        # No Docker-link variables (REDIS_PORT=tcp://...) beside the settings the service reads.
        "enableServiceLinks": False,
        "securityContext": kube.pod_security(),
        "volumes": [{"name": "secrets", "secret": {"secretName": references.secrets, "defaultMode": 0o400}}, kube.tmp_volume()],
    }
    if references.pull_secret is not None:
        spec["imagePullSecrets"] = [{"name": references.pull_secret}]
    return spec


def app_container(
    container_name: str, image: pulumi.Input[str], references: PodReferences, resources: Resources
) -> k8s.core.v1.ContainerArgsDict:
    """The image's container: settings from the ConfigMap, secrets mounted, a read-only root with a writable /tmp."""
    return {
        "name": container_name,
        "image": image,
        "imagePullPolicy": "Always",
        "envFrom": [{"configMapRef": {"name": references.settings}}],
        "resources": resources.model_dump(),
        "securityContext": kube.container_security(),
        "volumeMounts": [
            {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, private to the pod
        ],
    }
