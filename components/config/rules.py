"""Rules across keys: what each mode uses, ranges that span two keys, secrets a setting
needs, the volume locks, and what a careful operator insists on in prod.

Each rule reads the settings and returns its problems. Settings with a wrong value reach
the rules with that value's default in its place; the loader drops findings next to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from pydantic import BaseModel

from components.config.model import PROJECT, Resources, StackSettings, Storage
from components.config.types import dns_subdomain
from components.config.types import size as check_size
from components.quantity import parse_quantity


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
        yield from _unused(
            image, "image", ("registry", "repository", "platform", "push", "python_image", "uv_image"), "when image.mode is 'prebuilt'"
        )
    else:
        yield from _unused(image, "image", ("reference",), "when image.mode is 'build' (the image is named from registry/repository)")


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
    if ingress.enabled:
        if ingress.host is None:
            yield Problem("app.ingress.host", "an enabled ingress needs the host clients use")
        tls = ingress.tls
        if tls is not None and (tls.secret_name is None) == (tls.cluster_issuer is None):
            yield Problem("app.ingress.tls", "set exactly one of secretName (an existing Secret) or clusterIssuer (cert-manager)")
    else:
        yield from _unused(ingress, "app.ingress", ("host", "class_name", "tls", "controller_namespace"), "while the ingress is disabled")
    yield from _requests_within_limits("app.resources", app.resources)


def _requests_within_limits(path: str, resources: Resources) -> Iterator[Problem]:
    for kind in ("cpu", "memory"):
        request, limit = getattr(resources.requests, kind), getattr(resources.limits, kind)
        if parse_quantity(request) > parse_quantity(limit):
            yield Problem(f"{path}.requests.{kind}", f"{request} exceeds limits.{kind} ({limit})")
    if parse_quantity(resources.limits.memory) <= 0:
        yield Problem(f"{path}.limits.memory", "a container needs some memory: set a limit above zero")


IN_CLUSTER_ONLY = {
    "mysql": ("image", "storage", "resources", "backup"),
    "redis": ("image", "append_only", "maxmemory_policy", "maxmemory_percent", "storage", "resources"),
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
    backup = facts.settings.mysql.backup
    if facts.settings.mysql.mode == "in-cluster" and not backup.enabled:
        yield from _unused(backup, "mysql.backup", ("schedule", "retention_days", "storage"), "while backups are disabled")


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


@rule
def _secrets_needed(facts: Facts) -> Iterator[Problem]:
    settings, secrets = facts.settings, facts.secrets_set
    if settings.image.registry_username and "registryPassword" not in secrets:
        yield Problem(
            "registryPassword", "image.registryUsername is set: set the password with 'pulumi config set --secret registryPassword'"
        )
    if not settings.image.registry_username and "registryPassword" in secrets:
        yield Problem("registryPassword", "is not used without image.registryUsername: set the user, or remove it")
    for name, key in (("mysql", "mysqlPassword"), ("redis", "redisPassword")):
        server = getattr(settings, name)
        if server.mode == "external" and key not in secrets:
            yield Problem(key, f"external {'MySQL' if name == 'mysql' else 'Redis'} needs its password: 'pulumi config set --secret {key}'")
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
    if app.ingress.enabled and app.ingress.tls is None:
        yield Problem("app.ingress.tls", "a prod ingress serves HTTPS: set secretName or clusterIssuer")
    if settings.mysql.mode == "in-cluster" and not settings.mysql.backup.enabled:
        yield Problem("mysql.backup.enabled", "prod keeps backups of its in-cluster database")
    if settings.redis.mode == "in-cluster" and not settings.redis.append_only:
        yield Problem("redis.appendOnly", "prod persists Redis with AOF")
    if settings.image.mode == "build" and not settings.image.push:
        yield Problem("image.push", "a prod cluster pulls from a registry: push the built image")
    for path, storage in stateful_storages(settings):
        if storage.lock is None:
            yield Problem(f"{path}.lock", f"prod pins its data volumes: set it to '{storage.shape}' (the shape deployed)")
