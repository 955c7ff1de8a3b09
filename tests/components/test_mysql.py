"""MySQL per stack: objects, secrets, hardening, backups, protection and config refusals."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from components.config import MYSQL_IMAGE, ConfigError, MySqlConfig
from components.kube import NON_ROOT_UID
from components.mysql import server_settings
from components.quantity import mebibytes
from offline.engine import RecordedResource, StackRun, _is_secret
from tests.components.objects import descendants, kubernetes_objects, statefulset, statefulset_container

RunWith = Callable[..., StackRun]
CANARIES = {
    "mysqlRootPassword": "canary-root-0123456789abcdef",
    "mysqlPassword": "canary-app-0123456789abcdef",
    "redisPassword": "canary-redis-0123456789abcdef",
}


def _mysql_objects(run: StackRun) -> list[RecordedResource]:
    return kubernetes_objects(run, "fastapi-service:data:MySql")


def _kinds(resources: list[RecordedResource]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for resource in resources:
        counts[resource.kind] = counts.get(resource.kind, 0) + 1
    return counts


def _statefulset(run: StackRun) -> dict[str, Any]:
    return statefulset(_mysql_objects(run))


def _container(run: StackRun) -> dict[str, Any]:
    return statefulset_container(_mysql_objects(run))


def test_dev_is_small_without_backups(dev_run: StackRun) -> None:
    assert _kinds(_mysql_objects(dev_run)) == {
        "Secret": 1,
        "ConfigMap": 1,
        "ServiceAccount": 1,
        "Service": 2,
        "StatefulSet": 1,
        "PodDisruptionBudget": 1,
    }
    assert not dev_run.find("CronJob")


def test_prod_adds_the_backup_cronjob_and_its_volume(prod_run: StackRun) -> None:
    assert _kinds(_mysql_objects(prod_run)) == {
        "Secret": 1,
        "ConfigMap": 1,
        "ServiceAccount": 2,
        "Service": 2,
        "StatefulSet": 1,
        "PodDisruptionBudget": 1,
        "CronJob": 1,
        "PersistentVolumeClaim": 1,
    }


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


def test_volume_claim_template_takes_size_and_class_from_config(stack_run: StackRun) -> None:
    expected = {"dev": (None, "2Gi"), "prod": ("standard", "20Gi")}[stack_run.stack]
    (template,) = _statefulset(stack_run)["spec"]["volumeClaimTemplates"]
    assert (template["spec"].get("storageClassName"), template["spec"]["resources"]["requests"]["storage"]) == expected
    assert _statefulset(stack_run)["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}


def test_pod_is_restricted_and_runs_as_the_non_root_uid(stack_run: StackRun) -> None:
    pod = _statefulset(stack_run)["spec"]["template"]["spec"]
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
    assert env["MYSQL_ROOT_PASSWORD_FILE"]["value"].startswith("/etc/mysql/secrets/")
    assert env["MYSQL_PASSWORD_FILE"]["value"].startswith("/etc/mysql/secrets/")
    assert not any(key.endswith("PASSWORD") for key in env)


def test_probes_authenticate_through_the_option_file(stack_run: StackRun) -> None:
    container = _container(stack_run)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        command = container[probe]["exec"]["command"]
        assert command[1] == "--defaults-extra-file=/etc/mysql/secrets/client.cnf", probe
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
    changed = run_with("dev", {"mysql": {"storage": {"size": "2Gi"}, **bigger}})

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


def test_backup_job_is_hardened_and_scheduled_from_config(prod_run: StackRun) -> None:
    (cron,) = prod_run.find("CronJob", "mysql-backup")
    spec = cron.inputs["spec"]
    assert spec["schedule"] == "0 3 * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert {"backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"} <= set(job)
    pod = job["template"]["spec"]
    (container,) = pod["containers"]
    script = container["command"][-1]
    assert "mysqldump --defaults-extra-file=" in script
    assert "--single-transaction" in script
    assert "-mmin +20160" in script  # 14 days' retention from Pulumi.prod.yaml
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsUser"] == NON_ROOT_UID
    secret_volume = next(volume for volume in pod["volumes"] if "secret" in volume)
    assert [item["key"] for item in secret_volume["secret"]["items"]] == ["client.cnf"]  # not the app password
    # The backup pods are not MySQL pods: they must not match its Services or PDB.
    assert pod_labels(job) != _statefulset(prod_run)["spec"]["template"]["metadata"]["labels"]


def pod_labels(job: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = job["template"]["metadata"]["labels"]
    return labels


def test_password_from_secret_config_reaches_only_secrets(run_with: RunWith) -> None:
    run = run_with("dev", secrets=CANARIES)
    secret_inputs = [resource for resource in run.resources if resource.kind == "Secret"]
    assert any(CANARIES["mysqlRootPassword"] in json.dumps(resource.inputs) for resource in secret_inputs)
    for resource in run.resources:
        if resource.kind == "Secret":
            continue
        text = json.dumps(resource.inputs)
        for key, canary in CANARIES.items():
            assert canary not in text, f"{key} leaks into {resource.type} {resource.name}"
    # Given passwords replace the generated ones.
    assert not [resource for resource in run.of_type("random:index/randomPassword:RandomPassword") if "mysql" in resource.name]


def test_mysql_auth_secret_values_are_wrapped_as_secrets(stack_run: StackRun) -> None:
    (secret,) = stack_run.find("Secret", "mysql-auth")
    string_data = secret.raw_inputs["stringData"]
    assert _is_secret(string_data) or all(_is_secret(value) for value in string_data.values())
    assert set(secret.inputs["stringData"]) == {"root-password", "password", "client.cnf"}


def test_external_mode_registers_no_in_cluster_objects(run_with: RunWith) -> None:
    run = run_with(
        "dev",
        {"mysql": {"mode": "external", "host": "db.example.com", "database": "shop", "user": "shop"}},
        secrets={"mysqlPassword": CANARIES["mysqlPassword"]},
    )
    assert descendants(run, "fastapi-service:data:MySql") == []
    assert not [resource for resource in run.find("StatefulSet") if "mysql" in resource.name]
    assert not [policy for policy in run.find("NetworkPolicy") if policy.inputs["metadata"]["name"].endswith("-mysql")]
    for resource in run.resources:
        if resource.kind != "Secret":
            assert CANARIES["mysqlPassword"] not in json.dumps(resource.inputs)


@pytest.mark.parametrize(
    ("storage", "why"),
    [
        ({"size": "20Gi", "className": "fast-ssd", "lock": "standard:20Gi"}, "fast-ssd:20Gi"),
        ({"size": "40Gi", "className": "standard", "lock": "standard:20Gi"}, "standard:40Gi"),
    ],
)
def test_prod_refuses_a_storage_change_that_would_replace_the_statefulset(run_with: RunWith, storage: dict[str, str], why: str) -> None:
    prod_mysql = {
        "mode": "in-cluster",
        "storage": storage,
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
        "backup": {"enabled": True, "retentionDays": 14, "storage": {"size": "50Gi", "className": "standard"}},
    }
    with pytest.raises(
        ConfigError, match=rf"mysql\.storage: className/size '{why}' differ from the deployed volumes .*resize its PVC in place"
    ):
        run_with("prod", {"mysql": prod_mysql})
