"""Redis per stack, and the data tier's rule that a password only ever travels as a secret."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from components.config import REDIS_IMAGE, RedisConfig, StackConfig
from components.config.quantity import parse_quantity
from components.data.redis import AUTH_DIR, CONFIG_DIR
from components.kube import NON_ROOT_UID
from offline.engine import RecordedResource, StackRun
from tests.support import leaks
from tests.support.objects import kubernetes_objects, pod_spec, statefulset, statefulset_container

RunWith = Callable[..., StackRun]


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


def test_the_server_has_its_account_secret_config_services_and_disruption_budget(stack_run: StackRun) -> None:
    kinds = sorted(resource.kind for resource in _redis_objects(stack_run) if "backup" not in resource.name)
    assert kinds == ["ConfigMap", "PodDisruptionBudget", "Secret", "Service", "Service", "ServiceAccount", "StatefulSet"]
    names = {resource.inputs["metadata"]["name"] for resource in _redis_objects(stack_run) if resource.kind == "Service"}
    assert names == {"redis", "redis-headless"}


def test_image_is_pinned_7_by_digest(stack_run: StackRun) -> None:
    assert _container(stack_run)["image"] == RedisConfig().image == REDIS_IMAGE
    assert re.fullmatch(r"redis:7\.\d+\.\d+@sha256:[0-9a-f]{64}", REDIS_IMAGE)


def test_append_only_follows_the_config(stack_run: StackRun, stack_config: StackConfig) -> None:
    conf = _redis_conf(stack_run).splitlines()
    assert ("appendonly yes" in conf) == stack_config.redis.append_only
    assert "appendfsync everysec" in conf


def test_maxmemory_leaves_headroom_under_the_memory_limit(stack_run: StackRun, stack_config: StackConfig) -> None:
    # Above the limit the kernel kills Redis; the margin covers fork (AOF rewrite) and buffers.
    conf = _redis_conf(stack_run)
    limit = parse_quantity(_container(stack_run)["resources"]["limits"]["memory"])
    maxmemory = int(re.search(r"^maxmemory (\d+)$", conf, re.MULTILINE)[1])  # type: ignore[index]
    assert 0 < maxmemory < limit
    assert f"maxmemory-policy {stack_config.redis.maxmemory_policy}" in conf


def test_password_is_a_mounted_file_never_on_a_command_line(stack_run: StackRun) -> None:
    container = _container(stack_run)
    assert container["command"] == ["redis-server", f"{CONFIG_DIR}/redis.conf"]
    assert "env" not in container
    assert f"include {AUTH_DIR}/auth.conf" in _redis_conf(stack_run)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        script = container[probe]["exec"]["command"][-1]
        assert f'REDISCLI_AUTH="$(cat {AUTH_DIR}/password)"' in script, probe
        assert " -a " not in script, probe
    (secret,) = stack_run.find("Secret", "redis")
    assert set(secret.inputs["stringData"]) == {"password", "auth.conf"}


def test_pod_is_restricted(stack_run: StackRun) -> None:
    (statefulset,) = [resource for resource in _redis_objects(stack_run) if resource.kind == "StatefulSet"]
    pod = pod_spec(statefulset)
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
    run = run_with(
        "dev", {"redis": {"mode": "external", "host": "cache.example.com"}}, secrets={"redisPassword": leaks.canaries()["redisPassword"]}
    )
    assert _redis_objects(run) == []
    assert not [resource for resource in run.find("StatefulSet") if "redis" in resource.name]
