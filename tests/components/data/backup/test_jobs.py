"""Scheduled backups per stack: a CronJob per backed-up server, snapshot then restic, into the
stack's repository (off-site in prod); credentials only as files; exactly the commands that
tests/components/data/backup/test_commands.py runs against real servers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from components.config import PROJECT, ConfigError, Retention, StackConfig, backed_up, parse_stack_config
from components.data.backup.commands import ResticTarget, restic_backup_script
from components.data.backup.job import WORK_DIR
from components.data.backup.mysql import DUMP_FILE
from components.data.backup.repository import CREDENTIALS_DIR, PASSWORD_FILE, S3_SECRET_KEY_FILE
from offline.engine import RecordedResource, StackRun
from tests.support.objects import pod_labels, pod_spec
from tests.support.stacks import committed_config, flat_config

RunWith = Callable[..., StackRun]


INITIALISE = 'restic_call "initialising the repository" init'


def _restic_script(job: RecordedResource) -> str:
    (restic,) = pod_spec(job)["containers"]
    command: list[str] = restic["command"]
    return command[-1]


def _backup_jobs(run: StackRun) -> dict[str, RecordedResource]:
    return {pod_labels(job)["app.kubernetes.io/name"].removesuffix("-backup"): job for job in run.find("CronJob")}


def test_a_cron_job_exists_for_every_backed_up_server(stack_run: StackRun, stack_config: StackConfig) -> None:
    assert sorted(_backup_jobs(stack_run)) == sorted(backed_up(stack_config))


def test_schedules_come_from_the_config(stack_run: StackRun, stack_config: StackConfig) -> None:
    for server, job in _backup_jobs(stack_run).items():
        assert job.inputs["spec"]["schedule"] == getattr(stack_config, server).backup.schedule
        assert job.inputs["spec"]["concurrencyPolicy"] == "Forbid"


def test_the_snapshot_comes_first_then_restic_from_the_pinned_image(stack_run: StackRun, stack_config: StackConfig) -> None:
    for server, job in _backup_jobs(stack_run).items():
        pod = pod_spec(job)
        (snapshot,) = pod["initContainers"]
        (restic,) = pod["containers"]
        assert snapshot["name"] == f"{server}-snapshot"
        assert snapshot["image"] == getattr(stack_config, server).image  # the server's own client
        assert restic["image"] == stack_config.backup.image


def test_credentials_travel_only_as_mounted_files(stack_run: StackRun, stack_config: StackConfig) -> None:
    (secret,) = [resource for resource in stack_run.find("Secret") if resource.name == "backup-repository"]
    expected = {PASSWORD_FILE, S3_SECRET_KEY_FILE} if stack_config.backup.target == "s3" else {PASSWORD_FILE}
    assert set(secret.inputs["stringData"]) == expected
    for job in _backup_jobs(stack_run).values():
        pod = pod_spec(job)
        for container in [*pod["initContainers"], *pod["containers"]]:
            assert "env" not in container, container["name"]
        (restic,) = pod["containers"]
        assert {"name": "repository-credentials", "mountPath": CREDENTIALS_DIR, "readOnly": True} in restic["volumeMounts"]


def test_the_volume_target_keeps_the_repository_on_a_claim(stack_run: StackRun, stack_config: StackConfig) -> None:
    claims = [resource for resource in stack_run.find("PersistentVolumeClaim") if resource.name == "backup-repository-volume"]
    assert len(claims) == (stack_config.backup.target == "volume")
    for job in _backup_jobs(stack_run).values():
        mounted = [volume for volume in pod_spec(job)["volumes"] if "persistentVolumeClaim" in volume]
        assert len(mounted) == len(claims)


def test_restic_runs_the_tested_script_with_the_configs_values(prod_run: StackRun) -> None:
    # The very function tests/components/data/backup/test_commands.py runs against real S3, with this stack's values.
    config = committed_config("prod").backup
    assert config.s3 is not None
    target = ResticTarget(
        repository=f"s3:{config.s3.endpoint}/{config.s3.bucket}/{config.s3.path}",
        password_file=f"{CREDENTIALS_DIR}/{PASSWORD_FILE}",
        s3_access_key_id=config.s3.access_key_id,
        s3_secret_key_file=f"{CREDENTIALS_DIR}/{S3_SECRET_KEY_FILE}",
        s3_region=config.s3.region,
    )
    retention = Retention(daily=config.retention.daily, weekly=config.retention.weekly, monthly=config.retention.monthly)
    expected = restic_backup_script(
        target=target,
        source=f"{WORK_DIR}/{DUMP_FILE}",
        tag="mysql",
        hostname="prod",
        retention=retention,
        timeout_seconds=config.timeout_minutes * 60,
    )
    (restic,) = pod_spec(_backup_jobs(prod_run)["mysql"])["containers"]
    assert restic["command"] == ["sh", "-c", expected]


def test_only_the_first_backed_up_servers_job_may_create_the_repository(stack_run: StackRun, stack_config: StackConfig) -> None:
    # Two `restic init` at once leave a repository that no longer opens: one job creates it, the
    # others fail (and their Job retries) until it exists.
    first, *others = backed_up(stack_config)
    jobs = _backup_jobs(stack_run)
    assert INITIALISE in _restic_script(jobs[first])
    for server in others:
        assert INITIALISE not in _restic_script(jobs[server])


def test_prod_refuses_a_generated_repository_password() -> None:
    flat = flat_config("prod", {"backupS3SecretKey": "an-s3-secret"})
    with pytest.raises(ConfigError) as raised:
        parse_stack_config("prod", flat, {f"{PROJECT}:backupS3SecretKey"})
    assert [problem.path for problem in raised.value.problems] == ["backupRepositoryPassword"]
    assert "lost with it" in raised.value.problems[0].reason
