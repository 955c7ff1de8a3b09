"""MySQL per stack: objects, secrets, hardening, backups, protection and config refusals."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from components.config import MYSQL_IMAGE, MySqlConfig, StackConfig
from components.config.quantity import mebibytes
from components.data.mysql import server_settings
from components.data.mysql_client import CLIENT_CONFIG, CLIENT_CONFIG_DIR
from components.kube import NON_ROOT_UID
from offline.engine import RecordedResource, StackRun
from tests.support import leaks
from tests.support.objects import descendants, kubernetes_objects, pod_spec, statefulset, statefulset_container
from tests.support.stacks import committed_config

RunWith = Callable[..., StackRun]


def _mysql_objects(run: StackRun) -> list[RecordedResource]:
    return kubernetes_objects(run, "fastapi-service:data:MySql")


def _statefulset(run: StackRun) -> dict[str, Any]:
    return statefulset(_mysql_objects(run))


def _container(run: StackRun) -> dict[str, Any]:
    return statefulset_container(_mysql_objects(run))


def test_the_server_has_its_account_secret_config_services_and_disruption_budget(stack_run: StackRun) -> None:
    kinds = [resource.kind for resource in _mysql_objects(stack_run) if "backup" not in resource.name]
    assert sorted(kinds) == sorted(["ServiceAccount", "Secret", "ConfigMap", "Service", "Service", "StatefulSet", "PodDisruptionBudget"])


def test_services_have_stable_names_and_select_the_mysql_pods(stack_run: StackRun) -> None:
    statefulset = _statefulset(stack_run)
    services = {resource.inputs["metadata"]["name"]: resource.inputs["spec"] for resource in stack_run.find("Service", "mysql")}
    assert set(services) == {"mysql", "mysql-headless"}
    assert services["mysql-headless"]["clusterIP"] == "None"
    assert statefulset["spec"]["serviceName"] == "mysql-headless"
    assert services["mysql"]["type"] == "ClusterIP"  # never exposed outside the cluster
    for spec in services.values():
        assert spec["selector"] == statefulset["spec"]["selector"]["matchLabels"]


def test_image_is_pinned_8_4_by_digest(stack_run: StackRun) -> None:
    image = _container(stack_run)["image"]
    assert image == MySqlConfig().image == MYSQL_IMAGE
    assert re.fullmatch(r"mysql:8\.4\.\d+@sha256:[0-9a-f]{64}", image)


def test_volume_claim_template_takes_size_and_class_from_config(stack_run: StackRun, stack_config: StackConfig) -> None:
    storage = stack_config.mysql.storage
    (template,) = _statefulset(stack_run)["spec"]["volumeClaimTemplates"]
    assert template["spec"].get("storageClassName") == storage.class_name
    assert template["spec"]["resources"]["requests"]["storage"] == storage.size
    assert _statefulset(stack_run)["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}


def test_pod_is_restricted_and_runs_as_the_non_root_uid(stack_run: StackRun) -> None:
    (statefulset,) = [resource for resource in _mysql_objects(stack_run) if resource.kind == "StatefulSet"]
    pod = pod_spec(statefulset)
    assert pod["securityContext"]["runAsUser"] == NON_ROOT_UID
    assert pod["securityContext"]["fsGroup"] == NON_ROOT_UID
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    container = _container(stack_run)
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert {"/var/lib/mysql", "/var/run/mysqld", "/tmp"} <= mounts
    assert set(container["resources"]) == {"requests", "limits"}


def test_passwords_reach_the_container_as_files_only(stack_run: StackRun) -> None:
    container = _container(stack_run)
    env = {item["name"]: item for item in container["env"]}
    assert all("valueFrom" not in item for item in env.values())  # checkov CKV_K8S_35
    assert env["MYSQL_ROOT_PASSWORD_FILE"]["value"].startswith(f"{CLIENT_CONFIG_DIR}/")
    assert env["MYSQL_PASSWORD_FILE"]["value"].startswith(f"{CLIENT_CONFIG_DIR}/")
    assert not any(key.endswith("PASSWORD") for key in env)


def test_probes_authenticate_through_the_option_file(stack_run: StackRun) -> None:
    container = _container(stack_run)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        command = container[probe]["exec"]["command"]
        assert command[1] == f"--defaults-extra-file={CLIENT_CONFIG}", probe
        assert not any(arg.startswith(("-p", "--password")) for arg in command), probe


def test_server_settings_follow_the_memory_limit(stack_run: StackRun) -> None:
    (config_map,) = stack_run.find("ConfigMap", "mysql")
    settings = config_map.inputs["data"]["server.cnf"]
    limit = mebibytes(_container(stack_run)["resources"]["limits"]["memory"])
    pool = int(re.search(r"innodb_buffer_pool_size = (\d+)M", settings)[1])  # type: ignore[index]
    assert limit * 0.4 <= pool <= limit * 0.6
    assert "character-set-server = utf8mb4" in settings


def test_buffer_pool_scales_with_the_memory_limit() -> None:
    small, large = (
        MySqlConfig(),
        MySqlConfig.model_validate({"resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}}),
    )
    assert "innodb_buffer_pool_size = 2048M" in server_settings(large)
    assert server_settings(small) != server_settings(large)


def test_a_settings_change_rolls_the_pod(dev_run: StackRun, run_with: RunWith) -> None:
    bigger = {"resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "500m", "memory": "1Gi"}}}
    changed = run_with("dev", {"mysql": {**committed_config("dev").mysql.model_dump(by_alias=True, exclude_unset=True), **bigger}})

    def checksum(run: StackRun) -> str:
        annotations: dict[str, str] = _statefulset(run)["spec"]["template"]["metadata"]["annotations"]
        return annotations["checksum/config"]

    assert checksum(changed) != checksum(dev_run)


def test_prod_protects_the_data_and_dev_does_not(stack_run: StackRun) -> None:
    prod = stack_run.stack == "prod"
    kept = [resource for resource in _mysql_objects(stack_run) if resource.kind in {"StatefulSet", "PersistentVolumeClaim"}]
    assert kept
    for resource in kept:
        assert resource.protect == prod, resource.name
        assert not resource.retain_on_delete, resource.name  # the namespace's deletion would take it anyway
    for resource in descendants(stack_run, "fastapi-service:data:MySql"):
        if resource.type == "random:index/randomPassword:RandomPassword":
            assert resource.protect == prod


def test_external_mode_registers_no_in_cluster_objects(run_with: RunWith) -> None:
    password = leaks.canaries()["mysqlPassword"]
    run = run_with(
        "dev",
        # An external server: no backups here, so no backup repository either.
        {"mysql": {"mode": "external", "host": "db.example.com", "database": "shop", "user": "shop"}, "backup": None},
        secrets={"mysqlPassword": password},
    )
    assert descendants(run, "fastapi-service:data:MySql") == []
    assert not [resource for resource in run.find("StatefulSet") if "mysql" in resource.name]
    assert not [policy for policy in run.find("NetworkPolicy") if policy.inputs["metadata"]["name"].endswith("-mysql")]
    for resource in run.resources:
        if resource.kind != "Secret":
            assert password not in json.dumps(resource.inputs)
