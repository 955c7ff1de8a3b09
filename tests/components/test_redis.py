"""Redis per stack, and the data tier's rule that a password only ever travels as a secret."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from components.config import REDIS_IMAGE, ConfigError, RedisConfig
from components.kube import NON_ROOT_UID
from components.quantity import parse_quantity
from offline.engine import RecordedResource, StackRun, redact
from tests.components.objects import kubernetes_objects, statefulset, statefulset_container

RunWith = Callable[..., StackRun]
CANARY = "canary-redis-0123456789abcdef"


def _redis_objects(run: StackRun) -> list[RecordedResource]:
    return kubernetes_objects(run, "fastapi-service:data:Redis")


def _statefulset(run: StackRun) -> dict[str, Any]:
    return statefulset(_redis_objects(run))


def _container(run: StackRun) -> dict[str, Any]:
    return statefulset_container(_redis_objects(run))


def _redis_conf(run: StackRun) -> str:
    (config_map,) = run.find("ConfigMap", "redis")
    text: str = config_map.inputs["data"]["redis.conf"]
    return text


def test_objects_per_stack(stack_run: StackRun) -> None:
    kinds = sorted(resource.kind for resource in _redis_objects(stack_run))
    assert kinds == ["ConfigMap", "PodDisruptionBudget", "Secret", "Service", "Service", "ServiceAccount", "StatefulSet"]
    names = {resource.inputs["metadata"]["name"] for resource in _redis_objects(stack_run) if resource.kind == "Service"}
    assert names == {"redis", "redis-headless"}


def test_image_is_pinned_7_by_digest(stack_run: StackRun) -> None:
    assert _container(stack_run)["image"] == RedisConfig().image == REDIS_IMAGE
    assert re.fullmatch(r"redis:7\.\d+\.\d+@sha256:[0-9a-f]{64}", REDIS_IMAGE)


def test_append_only_in_prod_only(stack_run: StackRun) -> None:
    conf = _redis_conf(stack_run).splitlines()
    assert ("appendonly yes" in conf) == (stack_run.stack == "prod")
    assert "appendfsync everysec" in conf


def test_maxmemory_is_the_configured_share_of_the_limit(stack_run: StackRun) -> None:
    conf = _redis_conf(stack_run)
    limit = parse_quantity(_container(stack_run)["resources"]["limits"]["memory"])
    maxmemory = int(re.search(r"^maxmemory (\d+)$", conf, re.MULTILINE)[1])  # type: ignore[index]
    assert maxmemory == int(limit * RedisConfig().maxmemory_percent // 100)
    assert "maxmemory-policy allkeys-lru" in conf


def test_password_is_a_mounted_file_never_on_a_command_line(stack_run: StackRun) -> None:
    container = _container(stack_run)
    assert container["command"] == ["redis-server", "/etc/redis/conf/redis.conf"]
    assert "env" not in container
    assert "include /etc/redis/secret/auth.conf" in _redis_conf(stack_run)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        script = container[probe]["exec"]["command"][-1]
        assert 'REDISCLI_AUTH="$(cat /etc/redis/secret/password)"' in script, probe
        assert " -a " not in script, probe
    (secret,) = stack_run.find("Secret", "redis")
    assert set(secret.inputs["stringData"]) == {"password", "auth.conf"}


def test_pod_is_restricted(stack_run: StackRun) -> None:
    pod = _statefulset(stack_run)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == NON_ROOT_UID
    assert pod["securityContext"]["fsGroup"] == NON_ROOT_UID
    assert pod["automountServiceAccountToken"] is False
    security = _container(stack_run)["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}


def test_pdb_selects_the_redis_pods_without_blocking_drains(stack_run: StackRun) -> None:
    (budget,) = [resource for resource in _redis_objects(stack_run) if resource.kind == "PodDisruptionBudget"]
    assert budget.inputs["spec"]["selector"] == _statefulset(stack_run)["spec"]["selector"]
    assert budget.inputs["spec"]["maxUnavailable"] == 1


def test_prod_protects_the_statefulset(stack_run: StackRun) -> None:
    (statefulset,) = [resource for resource in _redis_objects(stack_run) if resource.kind == "StatefulSet"]
    prod = stack_run.stack == "prod"
    assert statefulset.protect == prod
    # Not retained: the namespace's deletion would delete a retained StatefulSet regardless.
    assert not statefulset.retain_on_delete


def test_external_mode_registers_no_in_cluster_objects(run_with: RunWith) -> None:
    run = run_with("dev", {"redis": {"mode": "external", "host": "cache.example.com"}}, secrets={"redisPassword": CANARY})
    assert _redis_objects(run) == []
    assert not [resource for resource in run.find("StatefulSet") if "redis" in resource.name]


def test_prod_refuses_a_redis_volume_change(run_with: RunWith) -> None:
    redis = {"appendOnly": True, "storage": {"size": "2Gi", "className": "premium", "lock": "standard:2Gi"}}
    with pytest.raises(ConfigError, match=r"redis\.storage: className/size 'premium:2Gi' differ from the deployed volumes 'standard:2Gi'"):
        run_with("prod", {"redis": redis})


def test_prod_refuses_redis_without_aof(run_with: RunWith) -> None:
    with pytest.raises(ConfigError, match=r"redis\.appendOnly: prod persists Redis with AOF"):
        run_with("prod", {"redis": {"appendOnly": False, "storage": {"size": "2Gi", "className": "standard", "lock": "standard:2Gi"}}})


def _passwords(run: StackRun) -> list[str]:
    generated = [str(resource.outputs["result"]) for resource in run.of_type("random:index/randomPassword:RandomPassword")]
    return [*generated, *[value for resource in run.resources for value in resource.secret_values() if len(value) >= 16]]


def test_every_password_travels_only_as_a_secret(stack_run: StackRun) -> None:
    passwords = _passwords(stack_run)
    assert len(passwords) >= 3  # mysql root + app, redis
    for resource in stack_run.resources:
        if resource.type.startswith("random:"):
            continue
        # With secret values redacted, no password may remain: each one was wrapped as a secret.
        visible = json.dumps(redact(resource.raw_inputs))
        # ...and outside Secrets, none may appear at all, not even wrapped (a secret env value).
        plain = json.dumps(resource.inputs) if resource.kind != "Secret" else ""
        for password in passwords:
            assert password not in visible, f"a password is not secret in {resource.type} {resource.name}"
            assert password not in plain, f"a password reaches {resource.type} {resource.name}"
