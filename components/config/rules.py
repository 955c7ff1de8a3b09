"""Rules across keys: what each mode uses, ranges that span two keys, secrets a setting
needs, the volume locks, and what a careful operator insists on in prod.

Each rule reads the settings and returns its problems. Settings with a wrong value reach
the rules with that value's default in its place; the loader drops findings next to it.

(Over 300 lines on purpose: every rule that spans keys is here, so one file answers "what can
stop my config?"; the sections below group them by subject.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from pydantic import BaseModel

from components.config.model import PROJECT, Resources, StackSettings, Storage
from components.config.quantity import parse_quantity
from components.config.types import dns_subdomain
from components.config.types import size as check_size


@dataclass(frozen=True)
class Problem:
    """One thing wrong, at the key path the user writes (`app.ingress.host`)."""

    path: str
    reason: str
    namespace: str = PROJECT

    @property
    def key(self) -> str:
        return f"{self.namespace}:{self.path}"


@dataclass(frozen=True)
class Facts:
    """What the rules read: the parsed settings, and which secret keys are set."""

    settings: StackSettings
    secrets_set: frozenset[str]


RuleFunction = Callable[[Facts], Iterable[Problem]]


RULES: list[RuleFunction] = []


def rule(check: RuleFunction) -> RuleFunction:
    RULES.append(check)
    return check


def check_rules(facts: Facts) -> list[Problem]:
    return [problem for check in RULES for problem in check(facts)]


# ---------------------------------------------------------------------------------------
# Keys the selected mode does not use are refused: a setting that silently does nothing
# is a mistake waiting to be believed.


def _unused(section: BaseModel, path: str, keys: Iterable[str], why: str) -> Iterator[Problem]:
    for name in keys:
        if name in section.model_fields_set:
            alias = type(section).model_fields[name].alias or name
            yield Problem(f"{path}.{alias}", f"is not used {why}: remove it")


@rule
def _image_mode(facts: Facts) -> Iterator[Problem]:
    image = facts.settings.image
    if image.mode == "prebuilt":
        if image.reference is None:
            yield Problem("image.reference", "mode 'prebuilt' needs the image to run")
        built = ("registry", "repository", "platform", "push", "build_network", "python_image", "uv_image")
        yield from _unused(image, "image", built, "when image.mode is 'prebuilt'")
    else:
        yield from _unused(image, "image", ("reference",), "when image.mode is 'build' (the image is named from registry/repository)")
        if not image.push:
            # pulumi-docker then has no registry digest to give (its repoDigest is the bare image
            # id), and the pods pull by digest with imagePullPolicy Always: nothing could run.
            yield Problem(
                "image.push",
                "false leaves the image in the local Docker daemon, where the cluster cannot pull it by digest: push to a "
                "registry the cluster pulls from (image.push true, image.registry e.g. a local registry on localhost:5001), "
                "or build and load it yourself and run it with image.mode 'prebuilt'",
            )


@rule
def _app_switches(facts: Facts) -> Iterator[Problem]:
    app = facts.settings.app
    scaling, ingress = app.autoscaling, app.ingress
    if scaling.enabled:
        if scaling.min_replicas > scaling.max_replicas:
            yield Problem("app.autoscaling.minReplicas", f"{scaling.min_replicas} exceeds maxReplicas ({scaling.max_replicas})")
        elif not scaling.min_replicas <= app.replicas <= scaling.max_replicas:
            yield Problem(
                "app.replicas",
                f"{app.replicas} lies outside autoscaling minReplicas..maxReplicas ({scaling.min_replicas}..{scaling.max_replicas})",
            )
    else:
        yield from _unused(
            scaling, "app.autoscaling", ("min_replicas", "max_replicas", "target_cpu_utilization"), "while autoscaling is disabled"
        )
    if "exposure" in app.model_fields_set:
        for name in ingress.model_fields_set:
            alias = type(ingress).model_fields[name].alias or name
            yield Problem(f"app.ingress.{alias}", "is replaced by app.exposure, which is set: remove app.ingress")
    elif ingress.enabled:
        if ingress.host is None:
            yield Problem("app.ingress.host", "an enabled ingress needs the host clients use")
        tls = ingress.tls
        if tls is not None and (tls.secret_name is None) == (tls.cluster_issuer is None):
            yield Problem("app.ingress.tls", "set exactly one of secretName (an existing Secret) or clusterIssuer (cert-manager)")
    else:
        yield from _unused(ingress, "app.ingress", ("host", "class_name", "tls", "controller_namespace"), "while the ingress is disabled")
    yield from _requests_within_limits("app.resources", app.resources)


@rule
def _exposure(facts: Facts) -> Iterator[Problem]:
    exposure, path = facts.settings.app.exposure, "app.exposure"
    if exposure.mode == "none":
        yield from _unused(exposure, path, ("hostnames", "gateway", "ingress"), "while app.exposure.mode is 'none'")
    elif exposure.mode == "gateway":
        yield from _unused(exposure, path, ("ingress",), "with app.exposure.mode 'gateway' (the HTTPRoute names a Gateway)")
        gateway = exposure.gateway
        if gateway is None:
            yield Problem(f"{path}.gateway", "mode 'gateway' needs the Gateway the route attaches to: set its name and namespace")
            return
        if gateway.name is None:
            yield Problem(f"{path}.gateway.name", "required: the name of the Gateway the route attaches to")
        if gateway.namespace is None:
            # Without one a parentRef means the route's own namespace, where the cluster's Gateway is not;
            # the NetworkPolicy must also know where the Gateway's proxies run.
            yield Problem(f"{path}.gateway.namespace", "required: the Gateway's namespace (a parentRef without one looks in the stack's)")
    else:
        yield from _unused(exposure, path, ("gateway",), "with app.exposure.mode 'ingress' (the Gateway API is mode 'gateway')")
        if not exposure.hostnames:
            yield Problem(f"{path}.hostnames", "mode 'ingress' needs the host name(s) clients use")
        ingress = exposure.ingress
        if ingress is None or ingress.controller_namespace is None:
            where = f"{path}.ingress" if ingress is None else f"{path}.ingress.controllerNamespace"
            yield Problem(where, "mode 'ingress' needs the namespace of the controller's pods (ingress.controllerNamespace)")
        if ingress is not None and ingress.tls is not None and (ingress.tls.secret_name is None) == (ingress.tls.cluster_issuer is None):
            yield Problem(f"{path}.ingress.tls", "set exactly one of secretName (an existing Secret) or clusterIssuer (cert-manager)")
    if len(set(exposure.hostnames)) != len(exposure.hostnames):
        yield Problem(f"{path}.hostnames", "lists a host name twice")


def _requests_within_limits(path: str, resources: Resources) -> Iterator[Problem]:
    for kind in ("cpu", "memory"):
        request, limit = getattr(resources.requests, kind), getattr(resources.limits, kind)
        if parse_quantity(request) > parse_quantity(limit):
            yield Problem(f"{path}.requests.{kind}", f"{request} exceeds limits.{kind} ({limit})")
    if parse_quantity(resources.limits.memory) <= 0:
        yield Problem(f"{path}.limits.memory", "a container needs some memory: set a limit above zero")


IN_CLUSTER_ONLY = {
    "mysql": ("image", "storage", "resources", "backup"),
    "redis": ("image", "append_only", "maxmemory_policy", "maxmemory_percent", "storage", "resources", "backup"),
}


@rule
def _data_tier_modes(facts: Facts) -> Iterator[Problem]:
    for name, server in (("mysql", facts.settings.mysql), ("redis", facts.settings.redis)):
        if server.mode == "external":
            if server.host is None:
                yield Problem(f"{name}.host", "external mode needs the server's host name")
            yield from _unused(server, name, IN_CLUSTER_ONLY[name], f"with an external server ({name}.mode is 'external')")
        else:
            yield from _unused(server, name, ("host",), f"by an in-cluster server ({name}.mode is 'in-cluster')")
            yield from _requests_within_limits(f"{name}.resources", server.resources)
    for name, server in (("mysql", facts.settings.mysql), ("redis", facts.settings.redis)):
        if server.mode == "in-cluster" and not server.backup.enabled:
            yield from _unused(server.backup, f"{name}.backup", ("schedule",), "while backups are disabled")


def backed_up(settings: StackSettings) -> list[str]:
    """The servers whose scheduled backups are on."""
    servers = (("mysql", settings.mysql), ("redis", settings.redis))
    return [name for name, server in servers if server.mode == "in-cluster" and server.backup.enabled]


@rule
def _backup_target(facts: Facts) -> Iterator[Problem]:
    backup, secrets = facts.settings.backup, facts.secrets_set
    if not backed_up(facts.settings):
        yield from _unused(backup, "backup", ("target", "s3", "volume", "retention"), "while no server is backed up")
        for key in ("backupRepositoryPassword", "backupS3SecretKey"):
            if key in secrets:
                yield Problem(key, "is not used while no server is backed up: remove it")
        return
    if backup.target == "s3":
        if backup.s3 is None:
            yield Problem("backup.s3", "the s3 target needs endpoint, bucket and accessKeyId")
        yield from _unused(backup, "backup", ("volume",), "with the s3 target")
    else:
        yield from _unused(backup, "backup", ("s3",), "with the volume target")
        if "backupS3SecretKey" in secrets:
            yield Problem("backupS3SecretKey", "is not used with the volume target: remove it")
    if backup.s3 is not None and not backup.s3.endpoint.startswith(("https://", "http://")):
        yield Problem("backup.s3.endpoint", f"{backup.s3.endpoint!r} is not an http(s) URL")


@rule
def _worker(facts: Facts) -> Iterator[Problem]:
    worker = facts.settings.worker
    if not worker.enabled:
        unused = [name for name in type(worker).model_fields if name != "enabled"]
        yield from _unused(worker, "worker", unused, "while the worker is disabled")
        return
    if worker.soft_time_limit_seconds >= worker.time_limit_seconds:
        yield Problem(
            "worker.softTimeLimitSeconds", f"{worker.soft_time_limit_seconds} must be below timeLimitSeconds ({worker.time_limit_seconds})"
        )
    if worker.visibility_timeout_seconds <= worker.time_limit_seconds:
        yield Problem(
            "worker.visibilityTimeoutSeconds",
            f"{worker.visibility_timeout_seconds} must exceed timeLimitSeconds ({worker.time_limit_seconds}): "
            "a task still running would be delivered to a second worker",
        )
    scaling = worker.autoscaling
    if scaling.enabled:
        if scaling.min_replicas > scaling.max_replicas:
            yield Problem("worker.autoscaling.minReplicas", f"{scaling.min_replicas} exceeds maxReplicas ({scaling.max_replicas})")
        elif not scaling.min_replicas <= worker.replicas <= scaling.max_replicas:
            yield Problem(
                "worker.replicas",
                f"{worker.replicas} lies outside autoscaling minReplicas..maxReplicas ({scaling.min_replicas}..{scaling.max_replicas})",
            )
    else:
        yield from _unused(
            scaling, "worker.autoscaling", ("min_replicas", "max_replicas", "target_cpu_utilization"), "while autoscaling is disabled"
        )
    yield from _requests_within_limits("worker.resources", worker.resources)


@rule
def _monitoring(facts: Facts) -> Iterator[Problem]:
    monitoring = facts.settings.monitoring
    scraping, alerts, dashboard = monitoring.service_monitor, monitoring.prometheus_rule, monitoring.dashboard
    if scraping.enabled:
        if scraping.prometheus_namespace is None:
            yield Problem(
                "monitoring.serviceMonitor.prometheusNamespace",
                "required with the serviceMonitor: the namespace of the Prometheus pods (the NetworkPolicies refuse every other scraper)",
            )
    else:
        yield from _unused(scraping, "monitoring.serviceMonitor", ("prometheus_namespace", "interval", "labels"), "while it is disabled")
    # The alerts and the dashboard read the series of the ServiceMonitor's jobs (job="api", job="worker").
    for path, section in (("monitoring.prometheusRule", alerts), ("monitoring.dashboard", dashboard)):
        if section.enabled and not scraping.enabled:
            yield Problem(f"{path}.enabled", "reads the metrics the serviceMonitor scrapes: enable monitoring.serviceMonitor too")
    if not alerts.enabled:
        unused = [name for name in type(alerts).model_fields if name != "enabled"]
        yield from _unused(alerts, "monitoring.prometheusRule", unused, "while it is disabled")
    elif not backed_up(facts.settings):
        yield from _unused(alerts, "monitoring.prometheusRule", ("backup_max_age_hours",), "while no server is backed up")
    if not dashboard.enabled:
        yield from _unused(dashboard, "monitoring.dashboard", ("labels",), "while it is disabled")
    elif not dashboard.labels:
        yield Problem("monitoring.dashboard.labels", "the Grafana sidecar loads only labelled ConfigMaps: give it its label")


@rule
def _tracing(facts: Facts) -> Iterator[Problem]:
    tracing = facts.settings.tracing
    if not tracing.enabled:
        yield from _unused(tracing, "tracing", ("endpoint", "sample_ratio"), "while tracing is disabled")
    elif tracing.endpoint is None:
        yield Problem("tracing.endpoint", "required with tracing: the collector's OTLP/HTTP URL (http://<collector>:4318)")
    elif not tracing.endpoint.startswith(("https://", "http://")) or "/" in tracing.endpoint.split("://", 1)[1].rstrip("/"):
        # The exporter appends /v1/traces to the base URL: a path here would be sent to twice.
        yield Problem("tracing.endpoint", f"{tracing.endpoint!r} is not an http(s) base URL (scheme, host and port, no path)")


@rule
def _one_target(facts: Facts) -> Iterator[Problem]:
    target = facts.settings.kubernetes
    if target.render_directory and (target.context or target.kubeconfig):
        yield Problem("kubernetes.renderDirectory", "excludes context and kubeconfig: choose a cluster or a directory")


# ---------------------------------------------------------------------------------------
# Volumes: a StatefulSet's volumeClaimTemplates are immutable, so a new class or size
# would replace it (new, empty volumes). `storage.lock` pins what is deployed.


def stateful_storages(settings: StackSettings) -> list[tuple[str, Storage]]:
    storages = []
    if settings.mysql.mode == "in-cluster":
        storages.append(("mysql.storage", settings.mysql.storage))
    if settings.redis.mode == "in-cluster":
        storages.append(("redis.storage", settings.redis.storage))
    return storages


def _lock_problem(path: str, lock: str) -> Problem | None:
    class_name, separator, size = lock.rpartition(":")
    try:
        if not separator:
            raise ValueError("no ':'")
        if class_name != "default":
            dns_subdomain(class_name)
        check_size(size)
    except ValueError:
        return Problem(f"{path}.lock", f"{lock!r} is not '<className or default>:<size>' (e.g. 'standard:20Gi')")
    return None


@rule
def _volume_shapes_unchanged(facts: Facts) -> Iterator[Problem]:
    for path, storage in stateful_storages(facts.settings):
        if storage.lock is None:
            continue
        malformed = _lock_problem(path, storage.lock)
        if malformed is not None:
            yield malformed
        elif storage.lock != storage.shape:
            yield Problem(
                path,
                f"className/size '{storage.shape}' differ from the deployed volumes '{storage.lock}'. "
                "Kubernetes cannot change a StatefulSet's volumeClaimTemplates in place, so Pulumi would replace "
                "the StatefulSet and bind new, empty volumes. To grow a volume, resize its PVC in place "
                "(kubectl patch pvc, StorageClass with allowVolumeExpansion) and keep this config; to move "
                f"storage class, take a backup, restore into a new stack or volume, then set {path}.lock "
                f"to '{storage.shape}'",
            )


# ---------------------------------------------------------------------------------------
# Secrets a setting needs, and secrets nothing would read.


def required_secrets(settings: StackSettings) -> dict[str, str]:
    """Secret keys these settings cannot do without -> why (a generated value would not do)."""
    required = {}
    if settings.image.registry_username:
        required["registryPassword"] = "image.registryUsername is set: set the password with 'pulumi config set --secret registryPassword'"
    for name, key in (("mysql", "mysqlPassword"), ("redis", "redisPassword")):
        if getattr(settings, name).mode == "external":
            required[key] = f"external {'MySQL' if name == 'mysql' else 'Redis'} needs its password: 'pulumi config set --secret {key}'"
    if backed_up(settings):
        if settings.backup.target == "s3":
            required["backupS3SecretKey"] = "the s3 target needs the key's secret: 'pulumi config set --secret backupS3SecretKey'"
        if settings.environment == "prod":
            required["backupRepositoryPassword"] = (
                "prod needs a repository password you keep outside the cluster: a generated one exists only in the "
                "cluster and is lost with it, and the backups with it ('pulumi config set --secret backupRepositoryPassword')"
            )
    return required


@rule
def _secrets_needed(facts: Facts) -> Iterator[Problem]:
    settings, secrets = facts.settings, facts.secrets_set
    for key, why in required_secrets(settings).items():
        if key not in secrets:
            yield Problem(key, why)
    if not settings.image.registry_username and "registryPassword" in secrets:
        yield Problem("registryPassword", "is not used without image.registryUsername: set the user, or remove it")
    if settings.mysql.mode == "external" and "mysqlRootPassword" in secrets:
        yield Problem("mysqlRootPassword", "is not used with an external MySQL (mysql.mode is 'external'): remove it")


# ---------------------------------------------------------------------------------------
# Production


@rule
def _prod(facts: Facts) -> Iterator[Problem]:
    settings = facts.settings
    if settings.environment != "prod":
        return
    app = settings.app
    if app.replicas < 2:
        yield Problem("app.replicas", f"prod runs at least 2 replicas for zero-downtime rollouts (got {app.replicas})")
    if app.autoscaling.enabled and app.autoscaling.min_replicas < 2:
        yield Problem("app.autoscaling.minReplicas", "prod keeps at least 2 replicas when scaling in")
    if "exposure" not in app.model_fields_set and app.ingress.enabled and app.ingress.tls is None:
        yield Problem("app.ingress.tls", "a prod ingress serves HTTPS: set secretName or clusterIssuer")
    exposure = app.exposure
    if exposure.mode == "ingress" and (exposure.ingress is None or exposure.ingress.tls is None):
        yield Problem("app.exposure.ingress.tls", "a prod ingress serves HTTPS: set secretName or clusterIssuer")
    if exposure.mode == "gateway" and exposure.gateway is not None and exposure.gateway.section_name is None:
        # TLS terminates at the Gateway: only its HTTPS listener should carry the route.
        yield Problem("app.exposure.gateway.sectionName", "prod attaches the route to the Gateway's HTTPS listener: name it")
    if settings.mysql.mode == "in-cluster" and not settings.mysql.backup.enabled:
        yield Problem("mysql.backup.enabled", "prod keeps backups of its in-cluster database")
    if settings.redis.mode == "in-cluster" and not settings.redis.append_only:
        yield Problem("redis.appendOnly", "prod persists Redis with AOF")
    if settings.image.mode == "build" and not settings.image.push:
        yield Problem("image.push", "a prod cluster pulls from a registry: push the built image")
    for path, storage in stateful_storages(settings):
        if storage.lock is None:
            yield Problem(f"{path}.lock", f"prod pins its data volumes: set it to '{storage.shape}' (the shape deployed)")
    if settings.worker.enabled and settings.worker.replicas < 2:
        yield Problem(
            "worker.replicas", f"prod runs at least 2 workers, so a rollout or a lost node stops no job (got {settings.worker.replicas})"
        )


@rule
def _prod_backups(facts: Facts) -> Iterator[Problem]:
    settings = facts.settings
    if settings.environment != "prod":
        return
    if settings.redis.mode == "in-cluster" and not settings.redis.backup.enabled:
        yield Problem("redis.backup.enabled", "prod keeps backups of its persistent Redis")
    if not backed_up(settings):
        return
    if settings.backup.target != "s3":
        yield Problem("backup.target", "prod backs up off-site, where losing the cluster cannot reach: use the s3 target")
