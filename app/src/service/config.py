"""Settings, read from the environment and from a secrets directory.

Importing this module reads nothing: validation happens only when
``Settings()`` or ``get_settings()`` is called, so the infra code can import
``Settings`` to check the names of the variables it sets.

Precedence (pydantic-settings semantics, highest first): explicit keyword
arguments, environment variables, files in the secrets directory, defaults.
So an env var wins over a secret file of the same name; Kubernetes should set
secrets as files only.
"""

from __future__ import annotations

import math
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy import URL

DEFAULT_SECRETS_DIR = "/run/secrets/app"

# Values that must never reach production even though they are long enough.
KNOWN_WEAK_SECRETS = frozenset({"changethis", "changeme", "password", "secret", "admin"})
MIN_PROD_SECRET_LENGTH = 32

AppEnv = Literal["local", "dev", "test", "prod"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
# Celery's execution pools the worker supports: processes, threads, or the worker's own thread.
WorkerPool = Literal["prefork", "threads", "solo"]
# A queue name as it appears in a comma list and a Redis key.
_QUEUE_NAME = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def split_list(raw: str) -> list[str]:
    """Split a comma- or newline-separated value, dropping blanks."""
    return [part.strip() for part in raw.replace("\n", ",").split(",") if part.strip()]


def _weakness(value: str) -> str | None:
    """Why a secret is too weak for prod, without repeating the value."""
    if not value:
        return "is empty"
    if value.lower() in KNOWN_WEAK_SECRETS:
        return "is a known default value"
    if len(value) < MIN_PROD_SECRET_LENGTH:
        return f"is shorter than {MIN_PROD_SECRET_LENGTH} characters"
    return None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="ignore",
        # Errors are reported by field name only; never include the input.
        hide_input_in_errors=True,
        secrets_dir=None,  # set per instance by get_settings() from SECRETS_DIR
    )

    app_env: AppEnv = "local"
    log_level: LogLevel = "INFO"

    service_host: str = "0.0.0.0"  # noqa: S104 - the pod's own interface
    service_port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=0, ge=0, le=64)
    graceful_shutdown_timeout: int = Field(default=20, ge=1, le=600)
    # SIGTERM serves what the kernel already queued and what idle connections send (service/server.py);
    # false runs stock uvicorn, should an upgrade or a kernel ever disagree with it.
    graceful_drain: bool = True
    # Uvicorn trusts X-Forwarded-* only from these addresses (comma-separated, or "*").
    forwarded_allow_ips: str = "127.0.0.1"
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    db_host: str = "127.0.0.1"
    db_port: int = Field(default=3306, ge=1, le=65535)
    db_name: str = Field(default="app", min_length=1, max_length=64)
    db_user: str = Field(default="app", min_length=1)
    db_password: SecretStr = SecretStr("")
    # Connections a process keeps open, and those it may open beyond them for a while. Kept rather
    # than overflowing: an overflow connection is closed when given back while the pool is full,
    # and under a fluctuating load reopened moments later (a connect, an authentication).
    db_pool_size: int = Field(default=10, ge=1, le=100)
    db_max_overflow: int = Field(default=0, ge=0, le=100)
    db_pool_timeout: float = Field(default=5.0, gt=0, le=120)
    db_pool_recycle: int = Field(default=1800, ge=-1)
    # A round trip before every checkout: 10-15% of an uncached read's throughput. Off, only connections
    # idle for more than 0.1 s are pinged (service/db.py), which finds those a server restart closed.
    db_pool_pre_ping: bool = False
    db_connect_timeout: int = Field(default=3, ge=1, le=60)

    redis_host: str = "127.0.0.1"
    redis_port: int = Field(default=6379, ge=1, le=65535)
    redis_db: int = Field(default=0, ge=0, le=15)
    redis_password: SecretStr = SecretStr("")
    cache_ttl_seconds: int = Field(default=60, ge=1, le=86400)

    # Comma- or newline-separated; several keys let a key be rotated without downtime.
    api_keys: SecretStr = SecretStr("")
    secrets_dir: str = DEFAULT_SECRETS_DIR

    # The background worker (service/jobs): Celery on the same Redis server as the cache, on Redis
    # databases of its own, so flushing the cache never drops a queued task.
    celery_broker_db: int = Field(default=1, ge=0, le=15)
    celery_result_db: int = Field(default=2, ge=0, le=15)
    worker_concurrency: int = Field(default=0, ge=0, le=256)  # 0 = usable CPUs, as WORKERS
    worker_pool: WorkerPool = "prefork"
    worker_queues: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["default"])
    # Tasks a worker holds per pool process, the running one included (they are acknowledged late):
    # 1 leaves queued tasks to idle workers rather than behind a long one.
    worker_prefetch_multiplier: int = Field(default=1, ge=1, le=100)
    worker_max_tasks_per_child: int = Field(default=0, ge=0)  # 0 = a pool process is never replaced
    task_soft_time_limit_seconds: int = Field(default=300, ge=1, le=86400)
    task_time_limit_seconds: int = Field(default=360, ge=1, le=86400)
    # An unacknowledged task is handed out again this long after its delivery (Redis has no acks).
    broker_visibility_timeout_seconds: int = Field(default=3600, ge=2, le=7 * 86400)
    worker_heartbeat_file: Path = Path("/tmp/service-worker.heartbeat")  # noqa: S108 - the pod's writable /tmp
    worker_heartbeat_max_age_seconds: int = Field(default=30, ge=3, le=3600)
    worker_metrics_port: int = Field(default=9540, ge=0, le=65535)  # 0 = no metrics server
    import_max_items: int = Field(default=1000, ge=1, le=100_000)
    import_batch_size: int = Field(default=100, ge=1, le=10_000)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        return split_list(value) if isinstance(value, str) else value

    @field_validator("worker_queues", mode="before")
    @classmethod
    def _split_queues(cls, value: Any) -> Any:
        return split_list(value) if isinstance(value, str) else value

    @field_validator("worker_queues")
    @classmethod
    def _plain_queue_names(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one queue is required")
        for name in value:
            if not _QUEUE_NAME.fullmatch(name):
                raise ValueError(f"a queue name is 1-64 of A-Z a-z 0-9 . _ : - ({name[:64]!r} is not)")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("api_keys")
    @classmethod
    def _at_least_one_key(cls, value: SecretStr) -> SecretStr:
        if not split_list(value.get_secret_value()):
            raise ValueError("at least one API key is required")
        return value

    @model_validator(mode="after")
    def _task_limits_in_order(self) -> Settings:
        if self.task_soft_time_limit_seconds >= self.task_time_limit_seconds:
            raise SettingsProblem(
                "task_soft_time_limit_seconds",
                "must be less than TASK_TIME_LIMIT_SECONDS (the task saves its progress)",
            )
        # Redis redelivers a task not acknowledged within the visibility timeout: one still running
        # would then run twice at once.
        if self.broker_visibility_timeout_seconds <= self.task_time_limit_seconds:
            raise SettingsProblem(
                "broker_visibility_timeout_seconds",
                "must exceed TASK_TIME_LIMIT_SECONDS (else a running task is redelivered)",
            )
        if self.celery_broker_db == self.celery_result_db or self.redis_db in (
            self.celery_broker_db,
            self.celery_result_db,
        ):
            raise SettingsProblem("celery_broker_db", "REDIS_DB, CELERY_BROKER_DB and CELERY_RESULT_DB must all differ")
        return self

    @model_validator(mode="after")
    def _prod_refuses_weak_secrets(self) -> Settings:
        if self.app_env != "prod":
            return self
        checks: list[tuple[str, str]] = [("db_password", self.db_password.get_secret_value())]
        # Redis inside the cluster may run without auth; a password, if set, must be strong.
        if self.redis_password.get_secret_value():
            checks.append(("redis_password", self.redis_password.get_secret_value()))
        checks.extend(("api_keys", key) for key in self.api_key_list)
        for name, value in checks:
            reason = _weakness(value)
            if reason:
                raise SettingsProblem(name, f"{reason} (refused in prod)")
        return self

    @property
    def api_key_list(self) -> list[str]:
        return split_list(self.api_keys.get_secret_value())

    @property
    def docs_enabled(self) -> bool:
        """/docs, /redoc and /openapi.json: served everywhere but prod, which publishes no API map."""
        return self.app_env != "prod"

    @property
    def api_keys_file(self) -> Path:
        return Path(self.secrets_dir) / "api_keys"

    def effective_workers(self) -> int:
        return self.workers or available_cpus()

    def effective_worker_concurrency(self) -> int:
        return self.worker_concurrency or available_cpus()

    def database_url(self) -> URL:
        # URL.create escapes the password; never build the DSN by string formatting.
        return URL.create(
            "mysql+asyncmy",
            username=self.db_user,
            password=self.db_password.get_secret_value() or None,
            host=self.db_host,
            port=self.db_port,
            database=self.db_name,
            query={"charset": "utf8mb4"},
        )

    def secret_values(self) -> list[str]:
        """Every secret value, for redaction in logs."""
        values = [
            self.db_password.get_secret_value(),
            self.redis_password.get_secret_value(),
            *self.api_key_list,
        ]
        return [v for v in values if v]


class SettingsProblem(ValueError):
    """A setting that is invalid for a reason that must name it but not its value."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field.upper()}: {reason}")
        self.field = field
        self.reason = reason


class ConfigError(Exception):
    """Settings could not be loaded; ``str()`` is one safe line."""


def available_cpus() -> int:
    """CPUs this process may use, honouring the cgroup v2 quota of a container."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def _format_validation_error(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in error["loc"])
        ctx = error.get("ctx") or {}
        inner = ctx.get("error")
        if isinstance(inner, SettingsProblem):
            parts.append(str(inner))
            continue
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{loc.upper() or 'SETTINGS'}: {message}")
    return "; ".join(parts)


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, raising ConfigError with a one-line, value-free message."""
    secrets_dir = overrides.get("secrets_dir") or os.environ.get("SECRETS_DIR") or DEFAULT_SECRETS_DIR
    # A missing directory is normal outside Kubernetes; pydantic-settings would warn.
    use_dir = secrets_dir if Path(secrets_dir).is_dir() else None
    try:
        return Settings(_secrets_dir=use_dir, **overrides)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc)) from None
    except SettingsProblem as exc:
        raise ConfigError(str(exc)) from None
    except Exception as exc:  # e.g. pydantic-settings' own SettingsError on a bad secrets dir
        raise ConfigError(f"SETTINGS: {type(exc).__name__}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
