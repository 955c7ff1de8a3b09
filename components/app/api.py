"""The FastAPI service on Kubernetes: settings, secrets, the migration Job, and the rollout.

The component lists the objects it creates; the specs are pure functions of their inputs below.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.app.exposure import expose
from components.app.migration import migration_job_name, migration_job_spec
from components.app.runtime import (
    APP_NAME,
    AppRuntime,
    PodReferences,
    app_container,
    app_metadata,
    docker_config,
    pod_spec_base,
    secret_files,
    settings,
    tracing_settings,
)
from components.build.image import PullCredentials
from components.config import AppConfig, TracingConfig
from components.data.endpoints import CacheEndpoint, DatabaseEndpoint
from components.kube import PodSelector
from components.kube.passwords import given_or_generated
from components.kube.workloads import (
    checksum,
    http_probe,
    replicas_owned_elsewhere,
    scaling_and_disruption,
    surge_rollout,
    topology_spread,
)
from components.network.peers import ClientPods, NetworkPeer

# The label that lets a pod call the API (as Bitnami's `<name>-client: "true"`): default deny
# holds for every other pod in the cluster, the stack's own namespace included.
API_CLIENT_LABEL = {"fastapi-service/api-client": "true"}
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
SERVICE_PORT = 80  # the API Service's port (the pods listen on app.port)


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
    tracing: TracingConfig = TracingConfig()  # off: no OTEL_* variable at all


class AppService(pulumi.ComponentResource):
    """Migrate, then roll out the API with zero downtime; scale, protect and expose it."""

    url: pulumi.Output[str]  # in-cluster URL of the API
    ingress_url: pulumi.Output[str] | None  # public URL, when exposed (HTTPRoute or Ingress)
    api_key: pulumi.Output[str]  # the key(s) clients send, secret
    network_peer: NetworkPeer  # the API pods and port, for the network policies
    clients: ClientPods  # the pods outside the stack that may call it
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
            metadata=app_metadata(args.namespace, name, "api", name),
            automount_service_account_token=False,  # the service never calls the Kubernetes API
            opts=child,
        )
        settings_env = {
            **settings(args.config, args.environment, args.database, args.cache),
            **tracing_settings(args.tracing, args.environment),
        }
        settings_map = k8s.core.v1.ConfigMap(f"{name}-settings", metadata=app_metadata(args.namespace, name, "api"), data=settings_env, opts=child)
        files = secret_files(args.database, args.cache, self.api_key)
        secret = k8s.core.v1.Secret(
            f"{name}-secrets", metadata=app_metadata(args.namespace, name, "api"), type="Opaque", string_data=files, opts=child
        )
        pull_secret = None
        if args.pull_credentials is not None:
            pull_secret = k8s.core.v1.Secret(
                f"{name}-registry",
                metadata=app_metadata(args.namespace, name, "api"),
                type="kubernetes.io/dockerconfigjson",
                string_data={".dockerconfigjson": docker_config(args.pull_credentials)},
                opts=child,
            )
        references = PodReferences(
            account.metadata.name, settings_map.metadata.name, secret.metadata.name, pull_secret.metadata.name if pull_secret else None
        )
        migration = k8s.batch.v1.Job(
            f"{name}-migrate",
            metadata=app_metadata(args.namespace, name, "migration", migration_job_name(name, args.image_reference)),
            spec=migration_job_spec(config, name, args.image_reference, references),
            opts=pulumi.ResourceOptions(
                parent=self,
                # The old Job goes before the new one comes: after a failed migration, going back to
                # the last good image brings back its Job's name, which a pending delete of the old
                # Job would otherwise remove from under the new one (found on a real node).
                delete_before_replace=True,
                custom_timeouts=pulumi.CustomTimeouts(create="10m", update="10m"),
            ),
        )
        settings_checksum, secrets_checksum = checksum(settings_env), checksum(files)
        deployment = k8s.apps.v1.Deployment(
            name,
            metadata=app_metadata(args.namespace, name, "api", name),
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
                ignore_changes=replicas_owned_elsewhere(config.autoscaling),
            ),
        )
        service = k8s.core.v1.Service(
            name,
            metadata=app_metadata(args.namespace, name, "api", name),
            spec={
                "type": "ClusterIP",
                "selector": api_selector,
                "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
            },
            opts=child,
        )
        scaling_and_disruption(
            name,
            metadata=app_metadata(args.namespace, name, "api", name),
            deployment=deployment.metadata.name,
            selector=api_selector,
            replicas=config.replicas,
            autoscaling=config.autoscaling,
            opts=child,
        )
        self.ingress_url = expose(
            name, config.effective_exposure, app_metadata(args.namespace, name, "api", name), service.metadata.name, SERVICE_PORT, child
        )

        self.url = pulumi.Output.concat("http://", service.metadata.name, ".", args.namespace, ".svc.cluster.local")
        self.network_peer = NetworkPeer(pod_selector=api_selector, port=config.port)
        self.clients = ClientPods(label=API_CLIENT_LABEL, namespaces=list(config.client_namespaces))
        self.database_clients = [api_selector, migration_selector]
        self.runtime = AppRuntime(
            args.image_reference,
            references.settings,
            references.secrets,
            references.pull_secret,
            settings_checksum,
            secrets_checksum,
            migration,
            traced=bool(tracing_settings(args.tracing, args.environment)),
        )
        self.register_outputs({"url": self.url, "ingressUrl": self.ingress_url})


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
    api: k8s.core.v1.ContainerArgsDict = {
        **app_container("api", image, references, config.resources),
        "ports": [{"name": "http", "containerPort": config.port, "protocol": "TCP"}],
        "startupProbe": http_probe(HEALTH_PATH, port="http", period=2, failures=30, timeout=2),
        # Ready means this pod serves, not that the database answers: an outage every pod shares
        # would empty the Service, and kube-proxy would then refuse every connection, cache hits
        # included, instead of the 503 + Retry-After the service gives. A new image reaches the
        # database before it serves anyway: its migration Job runs first with the same settings.
        "readinessProbe": http_probe(HEALTH_PATH, port="http", period=5, failures=2, timeout=2),
        "livenessProbe": http_probe(HEALTH_PATH, port="http", period=10, failures=3, timeout=2),
        # Keep serving while the endpoint removal reaches every node's proxy, then SIGTERM.
        "lifecycle": {"preStop": {"sleep": {"seconds": config.pre_stop_seconds}}},
    }
    pod: k8s.core.v1.PodSpecArgsDict = {
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
        "strategy": surge_rollout(),
        "template": {"metadata": {"labels": kube.labels(APP_NAME, name, "api"), "annotations": pod_annotations}, "spec": pod},
    }
