"""The stack config: both committed stacks parse; every bad key is named with its reason; nothing registers first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import ConfigError, StackConfig, describe_keys
from offline.engine import RecordedResource, StackRun, run_stack
from tests.conftest import STACKS

RunWith = Callable[..., StackRun]

# (stack, overrides of whole top-level keys, expected fragment of the one error message)
BAD_CONFIGS: list[tuple[str, dict[str, Any], str]] = [
    ("dev", {"app": {"replicas": 0}}, r"app\.replicas: Input should be greater than or equal to 1"),
    ("dev", {"app": {"replica": 2}}, r"app\.replica: unknown key"),
    (
        "dev",
        {"app": {"resources": {"requests": {"cpu": "2", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}},
        r"app\.resources: requests\.cpu \(2\) exceeds limits\.cpu \(1\)",
    ),
    (
        "dev",
        {"app": {"resources": {"requests": {"cpu": "fast", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}},
        r"app\.resources\.requests\.cpu: 'fast' is not a Kubernetes quantity",
    ),
    (
        "dev",
        {"app": {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}},
        r"app\.autoscaling: minReplicas \(5\) exceeds maxReplicas \(2\)",
    ),
    ("dev", {"app": {"port": 70000}}, r"app\.port: Input should be less than or equal to 65535"),
    ("dev", {"app": {"ingress": {"enabled": True}}}, r"app\.ingress: an enabled ingress needs 'host'"),
    ("dev", {"app": {"ingress": {"enabled": True, "host": "localhost"}}}, r"app\.ingress\.host: 'localhost' is not a fully qualified"),
    ("dev", {"namespace": "Fastapi_Dev"}, r"namespace: 'Fastapi_Dev' is not a DNS label"),
    ("dev", {"environment": "staging"}, r"environment: Input should be 'dev' or 'prod'"),
    ("dev", {"image": {"mode": "prebuilt"}}, r"image: mode 'prebuilt' needs 'reference'"),
    (
        "dev",
        {"image": {"mode": "prebuilt", "reference": "Registry/App:1"}},
        r"image\.reference: 'Registry/App:1' is not a valid image reference",
    ),
    ("dev", {"image": {"mode": "prebuilt", "reference": "registry.example.com/app:latest"}}, r"image\.reference: .* uses ':latest'"),
    ("dev", {"image": {"mode": "prebuilt", "reference": "registry.example.com/app"}}, r"image\.reference: .* has neither tag nor digest"),
    ("dev", {"image": {"registry": "not a host"}}, r"image\.registry: 'not a host' is not a registry host"),
    ("dev", {"image": {"registryUsername": "bot"}}, r"registryPassword: image\.registryUsername is set"),
    ("dev", {"kubernetes": {"context": "kind", "renderDirectory": "out"}}, r"kubernetes: renderDirectory excludes context"),
    ("dev", {"replicas": 2}, r"fastapi-service:replicas: unknown key"),
    ("prod", {"app": {"replicas": 1}}, r"app\.replicas: prod runs at least 2 replicas"),
    (
        "prod",
        {"image": {"registry": "registry.example.com", "repository": "platform/api", "push": False}},
        r"image\.push: a prod cluster pulls from a registry",
    ),
    (
        "prod",
        {"app": {"replicas": 3, "ingress": {"enabled": True, "host": "api.example.com"}}},
        r"app\.ingress\.tls: a prod ingress serves HTTPS",
    ),
]


def _ids(case: tuple[str, dict[str, Any], str]) -> str:
    stack, overrides, _ = case
    return f"{stack}-{'-'.join(overrides)}-{abs(hash(str(overrides))) % 10_000}"


@pytest.mark.parametrize(("stack", "overrides", "message"), BAD_CONFIGS, ids=[_ids(case) for case in BAD_CONFIGS])
def test_bad_config_is_refused_with_key_path_and_reason(run_with: RunWith, stack: str, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run_with(stack, overrides)


def test_every_problem_is_listed_in_one_message(run_with: RunWith) -> None:
    bad = {"app": {"replicas": 0, "port": 0}, "namespace": "UPPER"}
    with pytest.raises(ConfigError) as raised:
        run_with("dev", bad)
    paths = {problem.path for problem in raised.value.problems}
    assert paths == {"app.replicas", "app.port", "namespace"}
    assert str(raised.value).count("\n  - ") == 3


def test_invalid_config_registers_no_resource(tmp_path: Path) -> None:
    document = yaml.safe_load(Path("Pulumi.dev.yaml").read_text())
    document["config"]["fastapi-service:app"] = {"replicas": -1}
    config_file = tmp_path / "Pulumi.dev.yaml"
    config_file.write_text(yaml.safe_dump(document))
    registered: list[RecordedResource] = []
    with pytest.raises(ConfigError):
        run_stack("dev", config_file=config_file, registered=registered)
    assert registered == []


def test_plaintext_secret_in_stack_file_is_refused(tmp_path: Path) -> None:
    document = yaml.safe_load(Path("Pulumi.dev.yaml").read_text())
    document["config"]["fastapi-service:mysqlPassword"] = "hunter2-in-plaintext"
    config_file = tmp_path / "Pulumi.dev.yaml"
    config_file.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match=r"mysqlPassword: is stored in plaintext: set it with 'pulumi config set --secret") as raised:
        run_stack("dev", config_file=config_file)
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stack_config_is_valid(stack: str) -> None:
    run = run_stack(stack)
    assert run.resources, "a valid stack registers its resources"


def test_config_model_is_frozen() -> None:
    config = StackConfig(stack="dev", namespace="ns")
    with pytest.raises(ValueError, match="frozen"):
        config.namespace = "other"


def test_readme_config_reference_lists_every_key() -> None:
    readme = Path("README.md").read_text()
    missing = [key for key, *_ in describe_keys() if f"`{key}`" not in readme]
    assert missing == [], f"README's config reference lacks: {missing} (regenerate: python -m offline.config_reference)"
