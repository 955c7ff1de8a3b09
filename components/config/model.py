"""The stack config's shape: every key, its type, default and description.

camelCase in `Pulumi.<stack>.yaml`, snake_case here. Strict: a string is not a number and
a number is not a boolean. Rules across keys (modes, ranges, prod) live in `rules.py`;
this module says only what each key may hold. The README's config reference is generated
from the descriptions (`python -m offline.config_reference`).

(Over 300 lines on purpose: every key of the stack in one place, the reference's one source.)
"""

from __future__ import annotations

from typing import Literal

import pulumi
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from components.config.types import (
    CorsOrigin,
    CronSchedule,
    DnsLabel,
    DnsSubdomain,
    ImageReference,
    IngressHost,
    LabelKey,
    LabelValue,
    MySqlIdentifier,
    MySqlUser,
    Namespace,
    Port,
    PrometheusDuration,
    Quantity,
    RegistryHost,
    RepositoryPath,
    Size,
)

PROJECT = "fastapi-service"

# Upstream images, pinned by tag AND digest (the digest is what the kubelet pulls; the tag
# is for humans). Overridable per stack; validation insists on a pinned reference.
MYSQL_IMAGE = "mysql:8.4.7@sha256:0426ec38c7a10aa45ba383887df7878f74ee70e2fd589c7b69207f3577901903"
REDIS_IMAGE = "redis:7.4.7@sha256:c6e4a82ce60b829a72a21cc4ad4c1c274fa6962eb0d6ac698e8157cbc3fe16a4"
# The multi-arch index digest of the official restic image.
RESTIC_IMAGE = "restic/restic:0.17.3@sha256:8f5a62b422a2cb1277ea0dd6e826fe1acf649e5b9f02d60e5268d5fd1976255a"

Environment = Literal["dev", "prod"]
Mode = Literal["in-cluster", "external"]


class Section(BaseModel):
    """Frozen, strict, no unknown keys, camelCase in YAML."""

    model_config = ConfigDict(
        frozen=True,
        strict=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=True,
    )


class ResourceAmounts(Section):
    cpu: Quantity = Field(description="CPU, as a Kubernetes quantity ('250m', '1')")
    memory: Quantity = Field(description="Memory, as a Kubernetes quantity ('512Mi', '1Gi')")


class Resources(Section):
    requests: ResourceAmounts = Field(description="What the scheduler reserves")
    limits: ResourceAmounts = Field(description="The most the container may use (memory over it is killed)")


def resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> Resources:
    return Resources(requests=ResourceAmounts(cpu=cpu, memory=memory), limits=ResourceAmounts(cpu=cpu_limit, memory=memory_limit))


class KubernetesTarget(Section):
    """Where the objects go: a cluster, or a directory of YAML."""

    context: str | None = Field(default=None, description="kubeconfig context of the target cluster; unset: the current context")
    kubeconfig: str | None = Field(default=None, description="Path to a kubeconfig file; unset: the default (~/.kube/config, KUBECONFIG)")
    render_directory: str | None = Field(default=None, description="Write each object as YAML here instead of applying it (no cluster)")


class ImageConfig(Section):
    mode: Literal["build", "prebuilt"] = Field(default="build", description="build: from app/ with Docker; prebuilt: run `reference`")
    reference: ImageReference | None = Field(default=None, description="prebuilt: the image to run, best by digest")
    registry: RegistryHost = Field(default="localhost:5001", description="build: the registry host[:port] the image is named for")
    repository: RepositoryPath = Field(default="fastapi-service", description="build: the repository path in the registry")
    platform: Literal["linux/amd64", "linux/arm64"] = Field(default="linux/amd64", description="build: the target platform")
    push: bool = Field(default=True, description="build: push the image to the registry the cluster pulls it from (must be true)")
    build_network: Literal["default", "host"] = Field(
        default="default",
        description="build: the network of the build's RUN steps: the daemon's default, or host (a daemon without a bridge network)",
    )
    registry_username: str | None = Field(default=None, description="User for a private registry; with the registryPassword secret")
    python_image: ImageReference | None = Field(
        default=None, description="build: the Python base image; unset: app/Dockerfile's pinned default"
    )
    uv_image: ImageReference | None = Field(
        default=None, description="build: the image uv is copied from; unset: app/Dockerfile's pinned default"
    )


class Autoscaling(Section):
    enabled: bool = Field(default=False, description="Scale the pods on CPU with a HorizontalPodAutoscaler")
    min_replicas: int = Field(default=2, ge=1, le=100, description="Fewest pods the autoscaler keeps")
    max_replicas: int = Field(default=5, ge=1, le=100, description="Most pods the autoscaler starts")
    target_cpu_utilization: int = Field(default=70, ge=10, le=100, description="Average CPU, in % of requests, the autoscaler aims at")


class IngressTls(Section):
    secret_name: DnsSubdomain | None = Field(default=None, description="An existing TLS Secret in the namespace")
    cluster_issuer: DnsSubdomain | None = Field(default=None, description="cert-manager ClusterIssuer that issues the certificate")


class Ingress(Section):
    """The first form of exposure, still read when `app.exposure` is not set (`enabled: true` is
    `app.exposure` mode ingress with these settings); new stacks write `app.exposure`."""

    enabled: bool = Field(default=False, description="Deprecated, use app.exposure: expose the API through an Ingress")
    host: IngressHost | None = Field(default=None, description="Deprecated: the host name clients use ('*.example.com' allowed)")
    class_name: DnsSubdomain = Field(default="nginx", description="Deprecated: IngressClass of the controller that serves it")
    tls: IngressTls | None = Field(default=None, description="Deprecated: HTTPS, secretName or clusterIssuer")
    controller_namespace: DnsLabel = Field(
        default="ingress-nginx", description="Deprecated: namespace of the ingress controller pods allowed to reach the app"
    )


class GatewayParent(Section):
    """The Gateway (Gateway API) the HTTPRoute attaches to: the cluster's, not the stack's."""

    name: DnsSubdomain | None = Field(default=None, description="gateway: the Gateway's name (required)")
    namespace: DnsLabel | None = Field(
        default=None, description="gateway: the Gateway's namespace (required), admitted to the API pods by a NetworkPolicy"
    )
    section_name: DnsSubdomain | None = Field(
        default=None,
        description="gateway: the Gateway listener to attach to (e.g. its HTTPS one); unset: every listener that admits the route",
    )


class IngressExposure(Section):
    """An Ingress for whichever controller serves `className`: no controller-specific annotations."""

    class_name: DnsSubdomain | None = Field(default=None, description="ingress: the IngressClass; unset: the cluster's default class")
    controller_namespace: DnsLabel | None = Field(
        default=None, description="ingress: namespace of the controller's pods (required), admitted to the API pods by a NetworkPolicy"
    )
    tls: IngressTls | None = Field(default=None, description="ingress: HTTPS at the controller, secretName or clusterIssuer")


ExposureMode = Literal["none", "ingress", "gateway"]


class Exposure(Section):
    """How clients outside the cluster reach the API: one object per mode (an HTTPRoute, an Ingress, nothing)."""

    mode: ExposureMode = Field(
        default="none", description="gateway: an HTTPRoute on your Gateway; ingress: an Ingress; none: in-cluster clients only"
    )
    hostnames: list[IngressHost] = Field(
        default=[],
        max_length=16,
        description="The host names clients use ('*.example.com' allowed); ingress: at least one; gateway: unset takes the listener's",
    )
    gateway: GatewayParent | None = Field(default=None, description="gateway: the Gateway the route attaches to (TLS is the Gateway's)")
    ingress: IngressExposure | None = Field(default=None, description="ingress: the class, the controller's namespace, TLS")


class AppConfig(Section):
    replicas: int = Field(default=1, ge=1, le=100, description="API pods (the starting count when autoscaling)")
    workers: int = Field(default=1, ge=1, le=16, description="uvicorn processes per pod; scale with replicas")
    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info", description="The service's log level")
    port: Port = Field(default=8000, description="The port the service listens on in the pod")
    resources: Resources = Field(default=resources("100m", "128Mi", "500m", "256Mi"), description="Per API pod")
    autoscaling: Autoscaling = Field(default=Autoscaling(), description="CPU-based scaling")
    exposure: Exposure = Field(default=Exposure(), description="External access (replaces app.ingress)")
    ingress: Ingress = Field(default=Ingress(), description="Deprecated: external access through an Ingress; use app.exposure")
    topology_spread: bool = Field(default=False, description="Spread pods across nodes and zones when the cluster allows")
    cors_origins: list[CorsOrigin] = Field(default=[], description="Browser origins allowed to call the API (scheme://host[:port])")
    client_namespaces: list[DnsLabel] = Field(
        default=[],
        description='Other namespaces whose pods labelled `fastapi-service/api-client: "true"` may call the API (its own always may)',
    )
    cache_ttl_seconds: int = Field(default=60, ge=1, le=86400, description="How long item reads stay in Redis")
    shutdown_timeout_seconds: int = Field(default=20, ge=1, le=300, description="uvicorn graceful-shutdown bound")
    pre_stop_seconds: int = Field(default=5, ge=0, le=60, description="Delay before SIGTERM while endpoints drain")

    @property
    def effective_exposure(self) -> Exposure:
        """`exposure` as set, else what the deprecated `ingress` says (so stacks that still use it keep their Ingress)."""
        legacy = self.ingress
        if "exposure" in self.model_fields_set or not legacy.enabled:
            return self.exposure
        ingress = IngressExposure(class_name=legacy.class_name, controller_namespace=legacy.controller_namespace, tls=legacy.tls)
        return Exposure(mode="ingress", hostnames=[legacy.host] if legacy.host else [], ingress=ingress)


class Storage(Section):
    size: Size = Field(default="8Gi", description="Volume size, as a Kubernetes quantity")
    class_name: DnsSubdomain | None = Field(default=None, description="StorageClass; unset uses the cluster default")
    lock: str | None = Field(
        default=None, description="'<className or default>:<size>' of the volumes as deployed; guards against replacement"
    )

    @property
    def shape(self) -> str:
        return f"{self.class_name or 'default'}:{self.size}"


class ServerBackup(Section):
    enabled: bool = Field(default=False, description="Scheduled backups of this server to the stack's backup repository")
    schedule: CronSchedule = Field(default="0 3 * * *", description="When, as a CronJob schedule (UTC; '@daily' allowed): the RPO")


class RedisServerBackup(ServerBackup):
    # After MySQL's: the two jobs don't compete for the repository's lock.
    schedule: CronSchedule = Field(default="30 3 * * *", description="When, as a CronJob schedule (UTC; '@daily' allowed): the RPO")


class Retention(Section):
    daily: int = Field(default=7, ge=0, le=366, description="Keep the last snapshot of this many days")
    weekly: int = Field(default=4, ge=0, le=520, description="...of this many weeks")
    monthly: int = Field(default=6, ge=0, le=240, description="...of this many months")


class S3Target(Section):
    endpoint: str = Field(description="The S3 endpoint URL (https://s3.eu-central-1.amazonaws.com, or another S3-compatible store)")
    bucket: DnsSubdomain = Field(description="The bucket")
    path: str = Field(default="", description="A prefix inside the bucket (one repository per stack)")
    region: str = Field(default="us-east-1", description="The bucket's region")
    access_key_id: str = Field(description="The S3 access key id (its secret: `pulumi config set --secret backupS3SecretKey`)")


class BackupConfig(Section):
    """Where scheduled backups go: an encrypted restic repository, off-site on S3 or on a volume in the cluster."""

    target: Literal["s3", "volume"] = Field(default="volume", description="s3: off-site object storage; volume: a PVC in the cluster (dev)")
    s3: S3Target | None = Field(default=None, description="s3 target: the bucket")
    volume: Storage = Field(default=Storage(size="10Gi"), description="volume target: the repository's volume")
    retention: Retention = Field(default=Retention(), description="Snapshots `restic forget --prune` keeps after each backup")
    image: ImageReference = Field(default=RESTIC_IMAGE, description="The restic image, pinned by digest")
    timeout_minutes: int = Field(default=60, ge=5, le=1440, description="A backup run that takes longer fails (Job deadline)")


class MySqlConfig(Section):
    mode: Mode = Field(default="in-cluster", description="in-cluster: a StatefulSet here; external: a server you run")
    image: ImageReference = Field(default=MYSQL_IMAGE, description="in-cluster: the MySQL image, pinned by digest")
    host: DnsSubdomain | None = Field(default=None, description="external: the server's host name")
    port: Port = Field(default=3306, description="The port clients connect to")
    database: MySqlIdentifier = Field(default="app", description="The app's database")
    user: MySqlUser = Field(default="app", description="The app's MySQL user (never root)")
    storage: Storage = Field(default=Storage(), description="in-cluster: the data volume")
    resources: Resources = Field(default=resources("250m", "512Mi", "1", "1Gi"), description="in-cluster: per MySQL pod")
    backup: ServerBackup = Field(default=ServerBackup(), description="in-cluster: scheduled consistent dumps")


class RedisConfig(Section):
    mode: Mode = Field(default="in-cluster", description="in-cluster: a StatefulSet here; external: a server you run")
    image: ImageReference = Field(default=REDIS_IMAGE, description="in-cluster: the Redis image, pinned by digest")
    host: DnsSubdomain | None = Field(default=None, description="external: the server's host name")
    port: Port = Field(default=6379, description="The port clients connect to")
    append_only: bool = Field(default=False, description="in-cluster: persist with AOF (prod requires it)")
    maxmemory_policy: Literal[
        "noeviction", "allkeys-lru", "allkeys-lfu", "volatile-lru", "volatile-lfu", "allkeys-random", "volatile-ttl"
    ] = Field(default="allkeys-lru", description="in-cluster: what Redis evicts when full")
    maxmemory_percent: int = Field(default=75, ge=10, le=90, description="in-cluster: maxmemory as a share of the memory limit")
    storage: Storage = Field(default=Storage(size="1Gi"), description="in-cluster: the data volume")
    resources: Resources = Field(default=resources("50m", "64Mi", "250m", "128Mi"), description="in-cluster: per Redis pod")
    backup: RedisServerBackup = Field(default=RedisServerBackup(), description="in-cluster: scheduled RDB snapshots")


class WorkerConfig(Section):
    """The Celery worker that runs background jobs (bulk imports) from the Redis broker."""

    enabled: bool = Field(default=True, description="Run the worker (the import API needs it)")
    replicas: int = Field(default=1, ge=1, le=50, description="Worker pods (the starting count when autoscaling)")
    concurrency: int = Field(default=2, ge=1, le=64, description="Tasks one pod runs at once")
    pool: Literal["prefork", "threads", "solo"] = Field(default="prefork", description="Celery's execution pool")
    queues: list[DnsLabel] = Field(default=["default"], description="The queues it consumes")
    prefetch_multiplier: int = Field(default=1, ge=1, le=64, description="Messages reserved per process (1: fair with long tasks)")
    max_tasks_per_child: int = Field(default=100, ge=1, le=100000, description="A prefork child is replaced after this many tasks")
    soft_time_limit_seconds: int = Field(default=300, ge=1, le=86400, description="A task is asked to stop after this long")
    time_limit_seconds: int = Field(default=360, ge=1, le=86400, description="A task is killed after this long")
    visibility_timeout_seconds: int = Field(
        default=3600, ge=60, le=604800, description="An unacknowledged task is redelivered after this long (above the time limit)"
    )
    extra_args: list[str] = Field(default=[], description="Extra `celery worker` command-line arguments")
    resources: Resources = Field(default=resources("100m", "128Mi", "500m", "256Mi"), description="Per worker pod")
    autoscaling: Autoscaling = Field(default=Autoscaling(), description="CPU-based scaling")
    topology_spread: bool = Field(default=False, description="Spread pods across nodes and zones when the cluster allows")


Labels = dict[LabelKey, LabelValue]


class ServiceMonitorConfig(Section):
    """What Prometheus (prometheus-operator) scrapes: the API's /metrics and the worker's metrics port."""

    enabled: bool = Field(default=False, description="A ServiceMonitor (needs prometheus-operator's CRDs in the cluster)")
    prometheus_namespace: DnsLabel | None = Field(
        default=None, description="Namespace of the Prometheus pods (required), admitted to the metrics ports by a NetworkPolicy"
    )
    interval: PrometheusDuration = Field(default="30s", description="How often Prometheus scrapes")
    labels: Labels = Field(
        default={}, description="Labels your Prometheus's serviceMonitorSelector matches (kube-prometheus-stack: release: <its name>)"
    )


class PrometheusRuleConfig(Section):
    """Alerts on the service's metrics, as a PrometheusRule."""

    enabled: bool = Field(default=False, description="A PrometheusRule with the service's alerts (needs the serviceMonitor)")
    labels: Labels = Field(default={}, description="Labels your Prometheus's ruleSelector matches")
    error_ratio_percent: float = Field(default=5.0, gt=0, le=100, description="Alert when more than this % of API requests fail (5xx)")
    latency_p99_seconds: float = Field(default=1.0, gt=0, le=60, description="Alert when the API's p99 latency exceeds this")
    import_backlog: int = Field(
        default=100, ge=1, le=1000000, description="Alert when more imports were accepted than runs ended, by this many, in 30 minutes"
    )
    backup_max_age_hours: int = Field(
        default=26, ge=1, le=2160, description="Alert when a server's last successful backup is older (with backups on)"
    )


class DashboardConfig(Section):
    """A Grafana dashboard in a ConfigMap, for the Grafana sidecar that loads labelled ConfigMaps."""

    enabled: bool = Field(default=False, description="A ConfigMap holding the service's Grafana dashboard")
    labels: Labels = Field(
        default={"grafana_dashboard": "1"}, description="Labels the Grafana sidecar looks for (its dashboards.label and labelValue)"
    )


class MonitoringConfig(Section):
    """Prometheus and Grafana objects, all off by default: their CRDs may be absent from a cluster."""

    service_monitor: ServiceMonitorConfig = Field(default=ServiceMonitorConfig(), description="Scraping")
    prometheus_rule: PrometheusRuleConfig = Field(default=PrometheusRuleConfig(), description="Alerts")
    dashboard: DashboardConfig = Field(default=DashboardConfig(), description="The Grafana dashboard")

    @property
    def enabled(self) -> bool:
        return self.service_monitor.enabled or self.prometheus_rule.enabled or self.dashboard.enabled


class TracingConfig(Section):
    """OpenTelemetry traces of the API and the worker, sent over OTLP/HTTP (the standard OTEL_* variables)."""

    enabled: bool = Field(default=False, description="Export traces: requests, their SQL and cache commands, imports in the worker")
    endpoint: str | None = Field(
        default=None,
        description="The collector's OTLP/HTTP base URL, OTEL_EXPORTER_OTLP_ENDPOINT (required), e.g. http://otel-collector.observability:4318",
    )
    sample_ratio: float = Field(
        default=1.0, ge=0, le=1, description="Share of traces started by the API that are kept (parentbased_traceidratio)"
    )


class StackSettings(Section):
    """Every non-secret key of the stack, as `Pulumi.<stack>.yaml` holds them."""

    environment: Environment = Field(
        default="dev", description="prod applies the production rules (replicas, backups, AOF, TLS, pinned volumes)"
    )
    namespace: Namespace = Field(description="The namespace the stack owns (created, Pod Security 'restricted')")
    kubernetes: KubernetesTarget = Field(default=KubernetesTarget(), description="Where the objects go")
    image: ImageConfig = Field(default=ImageConfig(), description="The service image")
    app: AppConfig = Field(default=AppConfig(), description="The service")
    mysql: MySqlConfig = Field(default=MySqlConfig(), description="The database")
    redis: RedisConfig = Field(default=RedisConfig(), description="The cache and the task broker")
    worker: WorkerConfig = Field(default=WorkerConfig(), description="Background jobs")
    backup: BackupConfig = Field(default=BackupConfig(), description="Where the servers' scheduled backups go")
    monitoring: MonitoringConfig = Field(default=MonitoringConfig(), description="Prometheus and Grafana objects (off by default)")
    tracing: TracingConfig = Field(default=TracingConfig(), description="OpenTelemetry traces (off by default)")


# Secret keys: set with `pulumi config set --secret`, never part of the validated data.
SECRET_KEYS: dict[str, str] = {
    "mysqlRootPassword": "in-cluster MySQL's root password; generated when unset",
    "mysqlPassword": "The app user's MySQL password; generated when unset (in-cluster), required for external MySQL",
    "redisPassword": "Redis password; generated when unset (in-cluster), required for external Redis",
    "apiKeys": "Comma-separated API keys accepted by /api/v1 (several while rotating); one is generated when unset",
    "registryPassword": "Password or token for image.registryUsername (push and pulls)",
    "backupRepositoryPassword": "The backup repository's encryption password; generated when unset in dev, required in prod",
    "backupS3SecretKey": "The S3 secret access key of backup.s3.accessKeyId; required with backup.target s3",
}


class Secrets(BaseModel):
    """Secret config values as secret Outputs; None where the stack generates one (or needs none)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    mysql_root_password: pulumi.Output[str] | None = None
    mysql_password: pulumi.Output[str] | None = None
    redis_password: pulumi.Output[str] | None = None
    api_keys: pulumi.Output[str] | None = None
    registry_password: pulumi.Output[str] | None = None
    backup_repository_password: pulumi.Output[str] | None = None
    backup_s3_secret_key: pulumi.Output[str] | None = None


class StackConfig(StackSettings):
    """What `__main__.py` hands to the components: the settings, the stack's name, its secrets."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    stack: str = Field(description="The Pulumi stack")
    secrets: Secrets = Field(default=Secrets(), description="Secret config, as secret Outputs")

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"
