"""The stack config as the program reads it: every mistake named with its key and reason, all at
once, before anything registers; values checked as Kubernetes and the images check them.

(Over 300 lines on purpose: most of it is one table of bad configs and the message each gets.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import SECRET_KEYS, ConfigError, StackConfig, missing_required_secrets, parse_stack_config
from offline.engine import RecordedResource, run_stack
from offline.paths import PROJECT_ROOT
from tests.support.stacks import STACKS, flat_config

P = "fastapi-service"
DEV_MYSQL = yaml.safe_load((PROJECT_ROOT / "Pulumi.dev.yaml").read_text())["config"][f"{P}:mysql"]
DEV_REDIS = yaml.safe_load((PROJECT_ROOT / "Pulumi.dev.yaml").read_text())["config"][f"{P}:redis"]
PROD_MYSQL = yaml.safe_load((PROJECT_ROOT / "Pulumi.prod.yaml").read_text())["config"][f"{P}:mysql"]


def _case(case_id: str, stack: str, overrides: dict[str, Any], *expected: str) -> Any:
    return pytest.param(stack, overrides, list(expected), id=case_id)


BAD_CONFIGS = [
    # Keys and namespaces
    _case(
        "unknown-namespace",
        "dev",
        {"fastapi-servce:redis": {"mode": "external"}},
        "fastapi-servce:redis: unknown namespace 'fastapi-servce' (did you mean 'fastapi-service:redis'?)",
    ),
    _case("unknown-top-level-key", "dev", {"replicas": 2}, f"{P}:replicas: unknown key (did you mean 'app.replicas'?)"),
    _case("unknown-nested-key", "dev", {"app": {"replica": 2}}, f"{P}:app.replica: unknown key (did you mean 'replicas'?)"),
    _case(
        "section-not-a-mapping",
        "dev",
        {"app": "big"},
        f"{P}:app: expected a mapping of keys, got 'big': set its fields with 'pulumi config set --path'",
    ),
    _case("namespace-missing", "dev", {"namespace": None}, f"{P}:namespace: required: the namespace the stack owns"),
    # Quantities and sizes
    _case(
        "negative-cpu",
        "dev",
        {"app": {"resources": {"requests": {"cpu": "-100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}},
        f"{P}:app.resources.requests.cpu: '-100m' is negative",
    ),
    _case(
        "cpu-as-boolean",
        "dev",
        {"app": {"resources": {"requests": {"cpu": True, "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}},
        f"{P}:app.resources.requests.cpu: expected a quantity such as '250m', '1' or '512Mi', got true",
    ),
    _case(
        "request-above-limit",
        "dev",
        {"app": {"resources": {"requests": {"cpu": "2", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}},
        f"{P}:app.resources.requests.cpu: 2 exceeds limits.cpu (1)",
    ),
    _case(
        "zero-volume",
        "dev",
        {"mysql": {**DEV_MYSQL, "storage": {"size": "0"}}},
        f"{P}:mysql.storage.size: '0' is not a size above zero",
    ),
    _case("negative-volume", "dev", {"redis": {"storage": {"size": "-1Gi"}}}, f"{P}:redis.storage.size: '-1Gi' is not a size above zero"),
    # Names
    _case(
        "namespace-non-ascii",
        "dev",
        {"namespace": "fästapi"},
        f"{P}:namespace: 'fästapi' is not a DNS label: lower-case ASCII letters, digits and '-', alphanumeric at both ends, at most 63",
    ),
    _case(
        "namespace-upper-case",
        "dev",
        {"namespace": "Fastapi_Dev"},
        f"{P}:namespace: 'Fastapi_Dev' is not a DNS label: lower-case ASCII letters, digits and '-', alphanumeric at both ends, at most 63",
    ),
    _case(
        "namespace-reserved",
        "dev",
        {"namespace": "kube-system"},
        f"{P}:namespace: 'kube-system' is reserved for Kubernetes itself: choose the stack's own namespace",
    ),
    _case(
        "mysql-database-with-dash",
        "dev",
        {"mysql": {**DEV_MYSQL, "database": "my-app"}},
        f"{P}:mysql.database: 'my-app' is not a MySQL database name: letters, digits and '_', not only digits, at most 64",
    ),
    _case(
        "mysql-user-root",
        "dev",
        {"mysql": {**DEV_MYSQL, "user": "root"}},
        f"{P}:mysql.user: 'root' is the administrator: the app connects as its own user (the MySQL image refuses MYSQL_USER=root)",
    ),
    # Schedules
    _case(
        "cron-out-of-range",
        "dev",
        {"mysql": {"backup": {"enabled": True, "schedule": "61 * * * *"}}},
        f"{P}:mysql.backup.schedule: '61 * * * *' is not a CronJob schedule: minute 61 is outside 0-59",
    ),
    _case(
        "cron-never-fires",
        "dev",
        {"mysql": {"backup": {"enabled": True, "schedule": "0 0 30 2 *"}}},
        f"{P}:mysql.backup.schedule: '0 0 30 2 *' is not a CronJob schedule: never fires: no chosen month has the chosen day of the month",
    ),
    # Hosts and origins
    _case(
        "host-with-space",
        "dev",
        {"app": {"ingress": {"enabled": True, "host": "api example.com"}}},
        f"{P}:app.ingress.host: 'api example.com' is not a host name (RFC 1123: lower-case ASCII labels, dots, an optional leading '*.')",
    ),
    _case(
        "host-ip",
        "dev",
        {"app": {"ingress": {"enabled": True, "host": "10.0.0.1"}}},
        f"{P}:app.ingress.host: '10.0.0.1' is an IP address: an Ingress host must be a DNS name",
    ),
    _case(
        "cors-with-path",
        "dev",
        {"app": {"corsOrigins": ["https://app.example.com/"]}},
        f"{P}:app.corsOrigins[0]: 'https://app.example.com/' is not an origin: "
        "scheme://host[:port] with http or https, no path or trailing '/'",
    ),
    # Strict types
    _case("number-as-string", "dev", {"app": {"replicas": "3"}}, f"{P}:app.replicas: expected a whole number, got '3' (a string)"),
    _case("boolean-as-number", "dev", {"app": {"replicas": True}}, f"{P}:app.replicas: expected a whole number, got true (a boolean)"),
    _case("number-as-boolean", "dev", {"image": {"push": 1}}, f"{P}:image.push: expected true or false, got 1 (a number)"),
    _case(
        "not-an-option", "dev", {"environment": "staging"}, f"{P}:environment: expected one of 'dev' or 'prod', got 'staging' (a string)"
    ),
    _case("port-out-of-range", "dev", {"app": {"port": 70000}}, f"{P}:app.port: must be at most 65535, got 70000"),
    # Keys the selected mode does not use
    _case(
        "host-for-in-cluster",
        "dev",
        {"mysql": {**DEV_MYSQL, "host": "db.example.com"}},
        f"{P}:mysql.host: is not used by an in-cluster server (mysql.mode is 'in-cluster'): remove it",
    ),
    _case(
        "registry-for-prebuilt",
        "dev",
        {"image": {"mode": "prebuilt", "reference": "registry.example.com/app:1.0", "registry": "registry.example.com"}},
        f"{P}:image.registry: is not used when image.mode is 'prebuilt': remove it",
    ),
    _case(
        "schedule-while-backups-off",
        "dev",
        {"redis": {**DEV_REDIS, "backup": {"enabled": False, "schedule": "0 4 * * *"}}},
        f"{P}:redis.backup.schedule: is not used while backups are disabled: remove it",
    ),
    _case(
        "host-while-ingress-off",
        "dev",
        {"app": {"ingress": {"enabled": False, "host": "api.example.com"}}},
        f"{P}:app.ingress.host: is not used while the ingress is disabled: remove it",
    ),
    _case(
        "aof-for-external",
        "dev",
        {"redis": {"mode": "external", "host": "cache.example.com", "appendOnly": True}},
        f"{P}:redis.appendOnly: is not used with an external server (redis.mode is 'external'): remove it",
        f"{P}:redisPassword: external Redis needs its password: 'pulumi config set --secret redisPassword'",
    ),
    # Rules across keys
    _case(
        "autoscaling-min-above-max",
        "dev",
        {"app": {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}},
        f"{P}:app.autoscaling.minReplicas: 5 exceeds maxReplicas (2)",
    ),
    _case(
        "prebuilt-without-reference", "dev", {"image": {"mode": "prebuilt"}}, f"{P}:image.reference: mode 'prebuilt' needs the image to run"
    ),
    _case(
        "latest-tag",
        "dev",
        {"image": {"mode": "prebuilt", "reference": "registry.example.com/app:latest"}},
        f"{P}:image.reference: 'registry.example.com/app:latest' uses ':latest': pin a version or a digest",
    ),
    _case(
        "registry-user-without-password",
        "dev",
        {"image": {"registryUsername": "bot"}},
        f"{P}:registryPassword: image.registryUsername is set: set the password with 'pulumi config set --secret registryPassword'",
    ),
    _case(
        "render-and-cluster",
        "dev",
        {"kubernetes": {"context": "kind", "renderDirectory": "out"}},
        f"{P}:kubernetes.renderDirectory: excludes context and kubeconfig: choose a cluster or a directory",
    ),
    # Prod
    _case(
        "prod-one-replica",
        "prod",
        {"app": {"replicas": 1}},
        f"{P}:app.replicas: prod runs at least 2 replicas for zero-downtime rollouts (got 1)",
    ),
    _case(
        "prod-malformed-lock",
        "prod",
        {"mysql": {**PROD_MYSQL, "storage": {"size": "20Gi", "className": "standard", "lock": "standard-20Gi"}}},
        f"{P}:mysql.storage.lock: 'standard-20Gi' is not '<className or default>:<size>' (e.g. 'standard:20Gi')",
    ),
]


def _parse(stack: str, overrides: dict[str, Any] | None = None) -> StackConfig:
    """Parse the stack with overrides, the secrets the committed stack needs set (as a user has them)."""
    committed_needs = missing_required_secrets(flat_config(stack), set())
    flat = flat_config(stack, {**dict.fromkeys(committed_needs, "set-as-a-secret"), **(overrides or {})})
    return parse_stack_config(stack, flat, {f"{P}:{key}" for key in committed_needs})


@pytest.mark.parametrize(("stack", "overrides", "expected"), BAD_CONFIGS)
def test_bad_config_is_refused_naming_each_key_and_reason(stack: str, overrides: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(ConfigError) as raised:
        _parse(stack, overrides)
    assert [f"{problem.key}: {problem.reason}" for problem in raised.value.problems] == expected


def test_a_change_to_locked_volumes_is_refused_with_the_safe_ways_to_make_it() -> None:
    # What the user must learn: which key, the shapes, why (a replaced StatefulSet binds empty
    # volumes), and the two safe paths: resize in place, or restore elsewhere and move the lock.
    changed = {"mysql": {**PROD_MYSQL, "storage": {"size": "40Gi", "className": "standard", "lock": "standard:20Gi"}}}
    with pytest.raises(ConfigError) as raised:
        _parse("prod", changed)
    (problem,) = raised.value.problems
    assert problem.key == f"{P}:mysql.storage"
    essentials = ("'standard:40Gi'", "'standard:20Gi'", "replace the StatefulSet", "empty", "resize its PVC in place", "mysql.storage.lock")
    for essential in essentials:
        assert essential in problem.reason


def test_a_build_that_is_not_pushed_is_refused_naming_what_to_set_instead() -> None:
    # pulumi-docker gives no registry digest for an image it did not push, and the pods pull by digest.
    with pytest.raises(ConfigError) as raised:
        _parse("dev", {"image": {"mode": "build", "registry": "localhost:5001", "push": False}})
    (problem,) = raised.value.problems
    assert problem.key == f"{P}:image.push"
    for essential in ("cannot pull it by digest", "image.push true", "image.registry", "image.mode 'prebuilt'"):
        assert essential in problem.reason


GOOD_VALUES = [
    pytest.param({"mysql": {"backup": {"enabled": True, "schedule": "@daily"}}}, id="cron-macro"),
    pytest.param({"app": {"ingress": {"enabled": True, "host": "*.example.com"}}}, id="wildcard-host"),
    pytest.param({"mysql": {**DEV_MYSQL, "database": "my_app"}}, id="underscore-database"),
    pytest.param(
        {"app": {"resources": {"requests": {"cpu": 0, "memory": "128Mi"}, "limits": {"cpu": 1, "memory": "1Gi"}}}},
        id="numbers-as-quantities",
    ),
    pytest.param({"app": {"corsOrigins": ["http://localhost:3000", "https://127.0.0.1:8443"]}}, id="origins-with-ports"),
]


@pytest.mark.parametrize("overrides", GOOD_VALUES)
def test_values_kubernetes_accepts_are_accepted(overrides: dict[str, Any]) -> None:
    assert _parse("dev", overrides).stack == "dev"


def test_every_problem_is_reported_in_one_message() -> None:
    overrides = {"namespace": "UPPER", "app": {"replicas": 0, "port": 0, "replica": 1}, "mysql": {**DEV_MYSQL, "host": "db.example.com"}}
    with pytest.raises(ConfigError) as raised:
        _parse("dev", overrides)
    paths = [problem.path for problem in raised.value.problems]
    assert sorted(paths) == ["app.port", "app.replica", "app.replicas", "mysql.host", "namespace"]
    assert str(raised.value).count("\n  - ") == 5


def test_a_wrong_value_does_not_hide_the_rules_about_the_rest_of_its_section() -> None:
    # replicas is wrong; the ingress host in the same section still gets its rule checked.
    overrides = {"app": {"replicas": "two", "ingress": {"enabled": True}}}
    with pytest.raises(ConfigError) as raised:
        _parse("dev", overrides)
    assert [problem.path for problem in raised.value.problems] == ["app.replicas", "app.ingress.host"]


def test_a_secret_stored_in_plaintext_is_refused_without_repeating_it() -> None:
    flat = flat_config("dev", {"mysqlPassword": "hunter2-in-plaintext"})
    with pytest.raises(ConfigError) as raised:
        parse_stack_config("dev", flat, set())
    assert [problem.reason for problem in raised.value.problems] == [
        "is stored in plaintext: set it with 'pulumi config set --secret mysqlPassword'"
    ]
    assert "hunter2" not in str(raised.value)


def test_a_secret_set_as_secret_is_accepted() -> None:
    flat = flat_config("dev", {"mysqlPassword": "hunter2-but-encrypted"})
    assert parse_stack_config("dev", flat, {f"{P}:mysqlPassword"}).stack == "dev"


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("mysqlPassword", "short-but-encrypted", "is shorter than 32 characters (refused in prod, as the app does)"),
        ("apiKeys", "k" * 40 + ",short-second-key", "is shorter than 32 characters (refused in prod, as the app does)"),
        ("redisPassword", "changeme", "is a known default value (refused in prod)"),
    ],
)
def test_prod_refuses_an_app_secret_the_app_would_refuse_before_any_resource(key: str, value: str, reason: str) -> None:
    # Otherwise the stack deploys and its migration Job exits 2 on the app's own check.
    flat = flat_config("prod", {key: value})
    with pytest.raises(ConfigError) as raised:
        parse_stack_config("prod", flat, {f"{P}:{key}"})
    assert [(problem.path, problem.reason) for problem in raised.value.problems if problem.path == key] == [(key, reason)]
    assert value.rsplit(",", maxsplit=1)[-1] not in str(raised.value)


def test_dev_takes_a_short_app_secret() -> None:
    flat = flat_config("dev", {"mysqlPassword": "short-but-encrypted"})
    assert parse_stack_config("dev", flat, {f"{P}:mysqlPassword"}).stack == "dev"


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stack_config_is_valid_once_its_secrets_are_set(stack: str) -> None:
    assert isinstance(_parse(stack), StackConfig)


def test_invalid_config_registers_no_resource(tmp_path: Path) -> None:
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.dev.yaml").read_text())
    document["config"][f"{P}:app"] = {"replicas": -1}
    config_file = tmp_path / "Pulumi.dev.yaml"
    config_file.write_text(yaml.safe_dump(document))
    registered: list[RecordedResource] = []
    with pytest.raises(ConfigError):
        run_stack("dev", config_file=config_file, registered=registered)
    assert registered == []


def test_every_secret_key_is_declared_in_the_project_file() -> None:
    declared = yaml.safe_load((PROJECT_ROOT / "Pulumi.yaml").read_text())["config"]
    assert {key.split(":", 1)[1] for key in declared} >= set(SECRET_KEYS)
