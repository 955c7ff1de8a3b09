"""The stack's configuration: parsed once, at the program's edge, into a frozen model.

Every key lives under the project namespace (`fastapi-service:<key>`). Structured keys
(`app`, `mysql`, ...) are objects in `Pulumi.<stack>.yaml`; secrets are separate top-level
keys set with `pulumi config set --secret` and are never part of the validated data: they
stay secret Outputs from `pulumi.Config.get_secret` to the Kubernetes Secret that carries them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args, get_origin

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticUndefined

from components.quantity import (
    REGISTRY_PATTERN,
    REPOSITORY_PATTERN,
    check_image_reference,
    parse_quantity,
)

PROJECT = "fastapi-service"

# Upstream images, pinned by tag AND digest (the digest is what the kubelet pulls; the tag
# is for humans). Overridable per stack; config validation insists on a pinned reference.
MYSQL_IMAGE = "mysql:8.4.7@sha256:0426ec38c7a10aa45ba383887df7878f74ee70e2fd589c7b69207f3577901903"
REDIS_IMAGE = "redis:7.4.7@sha256:c6e4a82ce60b829a72a21cc4ad4c1c274fa6962eb0d6ac698e8157cbc3fe16a4"


def _quantity(text: str) -> str:
    parse_quantity(text)
    return text


def _dns_label(text: str) -> str:
    if not (1 <= len(text) <= 63) or not text.replace("-", "a").isalnum() or not text.islower():
        raise ValueError(f"{text!r} is not a DNS label (lower-case letters, digits and '-', at most 63 characters)")
    if text[0] == "-" or text[-1] == "-":
        raise ValueError(f"{text!r} must start and end with a letter or digit")
    return text


def _hostname(text: str) -> str:
    labels = text.split(".")
    if len(text) > 253 or len(labels) < 2:
        raise ValueError(f"{text!r} is not a fully qualified host name")
    for label in labels:
        _dns_label(label)
    return text


def _cron(text: str) -> str:
    fields = text.split()
    if len(fields) != 5 or not all(set(field) <= set("0123456789*/,-") for field in fields):
        raise ValueError(f"{text!r} is not a 5-field cron schedule (e.g. '0 3 * * *')")
    return text


Quantity = Annotated[str, AfterValidator(_quantity)]
DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Hostname = Annotated[str, AfterValidator(_hostname)]
CronSchedule = Annotated[str, AfterValidator(_cron)]
ImageReference = Annotated[str, AfterValidator(check_image_reference)]
Port = Annotated[int, Field(ge=1, le=65535)]
Environment = Literal["dev", "prod"]


class _Model(BaseModel):
    """Frozen, strict about unknown keys, camelCase in YAML and snake_case in Python."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=True,
    )


class ResourceAmounts(_Model):
    cpu: Quantity
    memory: Quantity


class Resources(_Model):
    requests: ResourceAmounts
    limits: ResourceAmounts

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        for kind in ("cpu", "memory"):
            request, limit = getattr(self.requests, kind), getattr(self.limits, kind)
            if parse_quantity(request) > parse_quantity(limit):
                raise ValueError(f"requests.{kind} ({request}) exceeds limits.{kind} ({limit})")
        return self


def _resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> Resources:
    return Resources(
        requests=ResourceAmounts(cpu=cpu, memory=memory),
        limits=ResourceAmounts(cpu=cpu_limit, memory=memory_limit),
    )


class KubernetesTarget(_Model):
    """Where the manifests go: a cluster (kubeconfig/context) or a directory of YAML."""

    context: str | None = None
    kubeconfig: str | None = Field(default=None, description="Path to a kubeconfig file")
    render_directory: str | None = Field(default=None, description="Write YAML here instead of applying")

    @model_validator(mode="after")
    def _one_target(self) -> KubernetesTarget:
        if self.render_directory and (self.context or self.kubeconfig):
            raise ValueError("renderDirectory excludes context and kubeconfig: choose a cluster or a directory")
        return self


class ImageConfig(_Model):
    mode: Literal["build", "prebuilt"] = "build"
    reference: ImageReference | None = Field(default=None, description="prebuilt mode: the image to run")
    registry: str = "localhost:5001"
    repository: str = "fastapi-service"
    platform: Literal["linux/amd64", "linux/arm64"] = "linux/amd64"
    push: bool = False
    registry_username: str | None = None
    python_image: ImageReference = "python:3.12.12-slim-bookworm"
    uv_image: ImageReference = "ghcr.io/astral-sh/uv:0.9.13"

    @field_validator("registry")
    @classmethod
    def _registry_host(cls, value: str) -> str:
        if not REGISTRY_PATTERN.match(value):
            raise ValueError(f"{value!r} is not a registry host[:port]")
        return value

    @field_validator("repository")
    @classmethod
    def _repository_path(cls, value: str) -> str:
        if not REPOSITORY_PATTERN.match(value):
            raise ValueError(f"{value!r} is not a repository path (lower-case, '/'-separated)")
        return value

    @model_validator(mode="after")
    def _mode_fields(self) -> ImageConfig:
        if self.mode == "prebuilt" and self.reference is None:
            raise ValueError("mode 'prebuilt' needs 'reference' (the image to run)")
        if self.mode == "build" and self.reference is not None:
            raise ValueError("'reference' is only for mode 'prebuilt'; mode 'build' names the image from registry/repository")
        return self


class Autoscaling(_Model):
    enabled: bool = False
    min_replicas: int = Field(default=2, ge=1)
    max_replicas: int = Field(default=5, ge=1)
    target_cpu_utilization: int = Field(default=70, ge=10, le=100)

    @model_validator(mode="after")
    def _min_not_above_max(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas ({self.min_replicas}) exceeds maxReplicas ({self.max_replicas})")
        return self


class IngressTls(_Model):
    secret_name: DnsLabel | None = Field(default=None, description="An existing TLS Secret")
    cluster_issuer: str | None = Field(default=None, description="cert-manager ClusterIssuer that issues the certificate")

    @model_validator(mode="after")
    def _one_source(self) -> IngressTls:
        if not self.secret_name and not self.cluster_issuer:
            raise ValueError("set secretName (an existing TLS Secret) or clusterIssuer (cert-manager)")
        return self


class Ingress(_Model):
    enabled: bool = False
    host: Hostname | None = None
    class_name: str = "nginx"
    tls: IngressTls | None = None
    controller_namespace: DnsLabel = Field(
        default="ingress-nginx", description="Namespace of the ingress controller pods allowed to reach the app"
    )

    @model_validator(mode="after")
    def _host_when_enabled(self) -> Ingress:
        if self.enabled and self.host is None:
            raise ValueError("an enabled ingress needs 'host'")
        return self


class AppConfig(_Model):
    replicas: int = Field(default=1, ge=1, le=100)
    workers: int = Field(default=1, ge=1, le=16, description="uvicorn processes per pod; scale with replicas")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    port: Port = 8000
    resources: Resources = _resources("100m", "128Mi", "500m", "256Mi")
    autoscaling: Autoscaling = Autoscaling()
    ingress: Ingress = Ingress()
    topology_spread: bool = False
    cors_origins: list[str] = []
    cache_ttl_seconds: int = Field(default=60, ge=1, le=86400)
    shutdown_timeout_seconds: int = Field(default=20, ge=1, le=300, description="uvicorn graceful-shutdown bound")
    pre_stop_seconds: int = Field(default=5, ge=0, le=60, description="delay before SIGTERM while endpoints drain")

    @model_validator(mode="after")
    def _replicas_within_autoscaling(self) -> AppConfig:
        scaling = self.autoscaling
        if scaling.enabled and not scaling.min_replicas <= self.replicas <= scaling.max_replicas:
            raise ValueError(
                f"replicas ({self.replicas}) must lie within autoscaling "
                f"minReplicas..maxReplicas ({scaling.min_replicas}..{scaling.max_replicas})"
            )
        return self


class Storage(_Model):
    size: Quantity = "8Gi"
    class_name: str | None = Field(default=None, description="StorageClass; unset uses the cluster default")
    lock: str | None = Field(
        default=None,
        description="'<className or default>:<size>' of the volumes as deployed; guards against replacement",
    )

    @property
    def shape(self) -> str:
        return f"{self.class_name or 'default'}:{self.size}"


class MySqlBackup(_Model):
    enabled: bool = False
    schedule: CronSchedule = "0 3 * * *"
    retention_days: int = Field(default=7, ge=1, le=365)
    storage: Storage = Storage(size="10Gi")


class MySqlConfig(_Model):
    mode: Literal["in-cluster", "external"] = "in-cluster"
    image: ImageReference = MYSQL_IMAGE
    host: str | None = Field(default=None, description="external mode: the server's host name")
    port: Port = 3306
    database: DnsLabel = "app"
    user: DnsLabel = "app"
    storage: Storage = Storage()
    resources: Resources = _resources("250m", "512Mi", "1", "1Gi")
    backup: MySqlBackup = MySqlBackup()

    @model_validator(mode="after")
    def _external_needs_host(self) -> MySqlConfig:
        if self.mode == "external" and not self.host:
            raise ValueError("external mode needs 'host' (the managed server's address)")
        return self


class RedisConfig(_Model):
    mode: Literal["in-cluster", "external"] = "in-cluster"
    image: ImageReference = REDIS_IMAGE
    host: str | None = None
    port: Port = 6379
    append_only: bool = False
    maxmemory_policy: Literal[
        "noeviction", "allkeys-lru", "allkeys-lfu", "volatile-lru", "volatile-lfu", "allkeys-random", "volatile-ttl"
    ] = "allkeys-lru"
    maxmemory_percent: int = Field(default=75, ge=10, le=90, description="maxmemory as a share of the memory limit")
    storage: Storage = Storage(size="1Gi")
    resources: Resources = _resources("50m", "64Mi", "250m", "128Mi")

    @model_validator(mode="after")
    def _external_needs_host(self) -> RedisConfig:
        if self.mode == "external" and not self.host:
            raise ValueError("external mode needs 'host' (the managed server's address)")
        return self


class Secrets(BaseModel):
    """Secret config values, as secret Outputs; None where the stack generates one."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    mysql_root_password: pulumi.Output[str] | None = None
    mysql_password: pulumi.Output[str] | None = None
    redis_password: pulumi.Output[str] | None = None
    api_keys: pulumi.Output[str] | None = None
    secret_key: pulumi.Output[str] | None = None
    registry_password: pulumi.Output[str] | None = None


SECRET_KEYS: dict[str, str] = {
    "mysqlRootPassword": "mysql_root_password",
    "mysqlPassword": "mysql_password",
    "redisPassword": "redis_password",
    "apiKeys": "api_keys",
    "secretKey": "secret_key",
    "registryPassword": "registry_password",
}


class StackConfig(_Model):
    """The whole stack: what `__main__.py` hands to the components."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    stack: str
    environment: Environment = "dev"
    namespace: DnsLabel
    kubernetes: KubernetesTarget = KubernetesTarget()
    image: ImageConfig = ImageConfig()
    app: AppConfig = AppConfig()
    mysql: MySqlConfig = MySqlConfig()
    redis: RedisConfig = RedisConfig()
    secrets: Secrets = Secrets()

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"


# ---------------------------------------------------------------------------------------
# Rules across sections, and the ones a careful operator applies to production.


@dataclass(frozen=True)
class Problem:
    path: str
    reason: str


class ConfigError(pulumi.RunError):
    """Every problem in the stack config, one line each, key paths as the user writes them.

    A RunError: the Pulumi language host prints its message without a traceback.
    """

    def __init__(self, stack: str, problems: list[Problem]):
        self.problems = problems
        lines = [f"invalid config for stack '{stack}' ({len(problems)} problem{'s' * (len(problems) != 1)}):"]
        lines += [f"  - {PROJECT}:{problem.path}: {problem.reason}" for problem in problems]
        super().__init__("\n".join(lines))


Rule = Callable[[StackConfig], "list[Problem]"]


def _prod_rules(cfg: StackConfig) -> list[Problem]:
    problems: list[Problem] = []
    if cfg.app.replicas < 2:
        problems.append(Problem("app.replicas", f"prod runs at least 2 replicas for zero-downtime rollouts (got {cfg.app.replicas})"))
    if cfg.app.autoscaling.enabled and cfg.app.autoscaling.min_replicas < 2:
        problems.append(Problem("app.autoscaling.minReplicas", "prod keeps at least 2 replicas when scaling in"))
    if cfg.app.ingress.enabled and cfg.app.ingress.tls is None:
        problems.append(Problem("app.ingress.tls", "a prod ingress serves HTTPS: set secretName or clusterIssuer"))
    if cfg.mysql.mode == "in-cluster" and not cfg.mysql.backup.enabled:
        problems.append(Problem("mysql.backup.enabled", "prod keeps backups of its in-cluster database"))
    if cfg.redis.mode == "in-cluster" and not cfg.redis.append_only:
        problems.append(Problem("redis.appendOnly", "prod persists Redis with AOF"))
    if cfg.image.mode == "build" and not cfg.image.push:
        problems.append(Problem("image.push", "a prod cluster pulls from a registry: push the built image"))
    problems += _volume_locks_required(cfg)
    return problems


def _volume_locks_required(cfg: StackConfig) -> list[Problem]:
    problems = []
    for section, storage in _stateful_storages(cfg):
        if storage.lock is None:
            problems.append(Problem(f"{section}.lock", f"prod pins its data volumes: set it to '{storage.shape}' (the shape deployed)"))
    return problems


def _stateful_storages(cfg: StackConfig) -> list[tuple[str, Storage]]:
    storages = []
    if cfg.mysql.mode == "in-cluster":
        storages.append(("mysql.storage", cfg.mysql.storage))
    if cfg.redis.mode == "in-cluster":
        storages.append(("redis.storage", cfg.redis.storage))
    return storages


def _volume_shapes_unchanged(cfg: StackConfig) -> list[Problem]:
    """A StatefulSet's volumeClaimTemplates are immutable: changing them replaces it (data lost)."""
    problems = []
    for section, storage in _stateful_storages(cfg):
        if storage.lock is not None and storage.lock != storage.shape:
            problems.append(
                Problem(
                    section,
                    f"className/size '{storage.shape}' differ from the deployed volumes '{storage.lock}'. "
                    "Kubernetes cannot change a StatefulSet's volumeClaimTemplates in place, so Pulumi would replace "
                    "the StatefulSet and bind new, empty volumes. To grow a volume, resize its PVC in place "
                    "(kubectl patch pvc, StorageClass with allowVolumeExpansion) and keep this config; to move "
                    f"storage class, take a backup, restore into a new stack or volume, then set {section}.lock "
                    f"to '{storage.shape}'",
                )
            )
    return problems


def _secret_rules(cfg: StackConfig) -> list[Problem]:
    problems = []
    if cfg.image.registry_username and cfg.secrets.registry_password is None:
        problems.append(
            Problem(
                "registryPassword", "image.registryUsername is set: set the password with 'pulumi config set --secret registryPassword'"
            )
        )
    if cfg.mysql.mode == "external" and cfg.secrets.mysql_password is None:
        problems.append(Problem("mysqlPassword", "external MySQL needs its password: 'pulumi config set --secret mysqlPassword'"))
    if cfg.redis.mode == "external" and cfg.secrets.redis_password is None:
        problems.append(Problem("redisPassword", "external Redis needs its password: 'pulumi config set --secret redisPassword'"))
    return problems


RULES: tuple[Rule, ...] = (_volume_shapes_unchanged, _secret_rules)


def check_rules(cfg: StackConfig) -> list[Problem]:
    problems = [problem for rule in RULES for problem in rule(cfg)]
    if cfg.is_prod:
        problems += _prod_rules(cfg)
    return problems


# ---------------------------------------------------------------------------------------
# Parsing at the edge.


def _problems_from(error: ValidationError, prefix: str) -> list[Problem]:
    problems = []
    for detail in error.errors(include_url=False):
        path = ".".join([prefix, *(str(part) for part in detail["loc"])]).strip(".")
        reason = detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "extra_forbidden":
            reason = "unknown key"
        problems.append(Problem(path, reason))
    return problems


def parse_stack_config(stack: str, raw: Mapping[str, Any], secrets: Secrets) -> StackConfig:
    """Validate the raw config (keys without the project prefix); raise ConfigError listing every problem."""
    known = set(StackConfig.model_fields) - {"stack", "secrets"}
    camel_known = {to_camel(name) for name in known}
    problems = [Problem(key, "unknown key") for key in raw if key not in camel_known and key not in SECRET_KEYS]
    sections: dict[str, Any] = {}
    for name in known:
        key = to_camel(name)
        if key not in raw:
            continue
        field = StackConfig.model_fields[name]
        try:
            annotation: Any = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
            sections[name] = TypeAdapter(annotation).validate_python(raw[key])
        except ValidationError as error:
            problems += _problems_from(error, key)
    if problems:
        raise ConfigError(stack, problems)
    try:
        cfg = StackConfig(stack=stack, secrets=secrets, **sections)
    except ValidationError as error:
        raise ConfigError(stack, _problems_from(error, "")) from None
    problems = check_rules(cfg)
    if problems:
        raise ConfigError(stack, problems)
    return cfg


def _read_raw(config: pulumi.Config) -> dict[str, Any]:
    """Every non-secret key set for this project, JSON objects decoded."""
    from pulumi.runtime import config as runtime_config

    prefix = f"{PROJECT}:"
    raw_values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    raw: dict[str, Any] = {}
    for full_key in raw_values:
        if not full_key.startswith(prefix):
            continue
        key = full_key.removeprefix(prefix)
        if key in SECRET_KEYS:
            continue
        text = config.get(key)
        if text is None:
            continue
        try:
            raw[key] = json.loads(text)
        except json.JSONDecodeError:
            raw[key] = text
    return raw


def _read_secrets(config: pulumi.Config) -> tuple[Secrets, list[Problem]]:
    """Secret keys as secret Outputs; "" (the project default) means generate one.

    A value set without `--secret` would sit in plaintext in Pulumi.<stack>.yaml: refused.
    """
    from pulumi.runtime import config as runtime_config

    values: dict[str, pulumi.Output[str]] = {}
    problems = []
    for key, field in SECRET_KEYS.items():
        # The raw value (not config.get, which warns when it reads a secret).
        if not runtime_config.get_config(f"{PROJECT}:{key}"):
            continue
        if not runtime_config.is_config_secret(f"{PROJECT}:{key}"):
            problems.append(Problem(key, f"is stored in plaintext: set it with 'pulumi config set --secret {key}'"))
            continue
        values[field] = config.require_secret(key)
    return Secrets(**values), problems


def load_stack_config() -> StackConfig:
    """Read and validate the current stack's config. Raises ConfigError before anything registers."""
    config = pulumi.Config(PROJECT)
    secrets, problems = _read_secrets(config)
    if problems:
        raise ConfigError(pulumi.get_stack(), problems)
    return parse_stack_config(pulumi.get_stack(), _read_raw(config), secrets)


def describe_keys() -> list[tuple[str, str, str, str]]:
    """(key path, type, default, description) for every leaf key: the README's config reference."""
    rows: list[tuple[str, str, str, str]] = []

    def walk(model: type[BaseModel], prefix: str, defaults: Any) -> None:
        for name, field in model.model_fields.items():
            if name in {"stack", "secrets"}:
                continue
            key = f"{prefix}{to_camel(name)}"
            default = getattr(defaults, name, None) if defaults is not None else field.default
            nested = _nested_model(field.annotation)
            if nested is not None:
                walk(nested, f"{key}.", default)
                continue
            rows.append((key, _type_name(field.annotation), _default_text(default), field.description or ""))

    walk(StackConfig, "", None)
    for key in SECRET_KEYS:
        default = "-" if key == "registryPassword" else "generated"
        rows.append((key, "secret string", default, f"pulumi config set --secret {key}"))
    return rows


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation, *get_args(annotation)]
    return next((item for item in candidates if isinstance(item, type) and issubclass(item, _Model)), None)


def _type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type_name(args[0])
    if origin is Literal:
        return " / ".join(str(arg) for arg in args)
    if args and type(None) in args:
        return _type_name(next(arg for arg in args if arg is not type(None))) + " (optional)"
    if origin is list:
        return f"list of {_type_name(args[0])}"
    return getattr(annotation, "__name__", str(annotation))


def _default_text(value: Any) -> str:
    if value is None:
        return "-"
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, list) else str(value)
