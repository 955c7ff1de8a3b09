"""A scheduled backup of one server: an initContainer snapshots it into a scratch directory,
then restic puts that file into the stack's repository and applies the retention.

Two containers, each in the image that has its tool (the server's own client, restic), and
no shell variable crosses between them: the file is the hand-over. A failed step fails the
pod, and with it the Job (visible in `kubectl get jobs` and to kube-state-metrics).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.data.backup.commands import restic_backup_script
from components.data.backup.repository import CREDENTIALS_DIR, VOLUME_DIR, BackupRepository
from components.kube import PodSelector

WORK_DIR = "/work"


@dataclass(frozen=True)
class BackupSource:
    """What a job snapshots: a container writing one file into WORK_DIR."""

    tag: str  # the snapshots' restic tag (mysql, redis)
    image: str
    script: pulumi.Input[str]  # run with `command` below; writes WORK_DIR/<file_name>
    command: list[str]  # the interpreter, e.g. ["bash", "-c"]
    file_name: str
    volumes: list[k8s.core.v1.VolumeArgsDict]  # e.g. one key of the server's credentials Secret
    mounts: list[k8s.core.v1.VolumeMountArgsDict]


def scheduled_backup(
    name: str,
    *,
    kind: str,
    namespace: pulumi.Input[str],
    schedule: str,
    source: BackupSource,
    repository: BackupRepository,
    parent: pulumi.Resource,
) -> PodSelector:
    """The backup's objects under `parent`, a MySqlBackup or RedisBackup: a ServiceAccount without
    a token and the CronJob. Returns the selector of the backup pods, which their server must admit."""
    child = pulumi.ResourceOptions(parent=parent)
    labels = kube.labels(name=kind, instance=name, component="backup")
    account = k8s.core.v1.ServiceAccount(
        name, metadata=kube.metadata(name, namespace, labels), automount_service_account_token=False, opts=child
    )
    k8s.batch.v1.CronJob(
        name,
        metadata=kube.metadata(name, namespace, labels),
        spec=cron_job_spec(schedule=schedule, labels=labels, account=account.metadata.name, source=source, repository=repository),
        opts=child,
    )
    return kube.selector(name=kind, instance=name)


def cron_job_spec(
    *, schedule: str, labels: dict[str, str], account: pulumi.Input[str], source: BackupSource, repository: BackupRepository
) -> k8s.batch.v1.CronJobSpecArgsDict:
    return {
        "schedule": schedule,
        "timeZone": "Etc/UTC",
        # Never two runs at once: a slow backup must not pile up behind itself (restic would wait on its lock).
        "concurrencyPolicy": "Forbid",
        # A run missed while the controller was down still happens within the hour.
        "startingDeadlineSeconds": 3600,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "metadata": {"labels": labels},
            "spec": {
                "backoffLimit": 2,
                "activeDeadlineSeconds": repository.timeout_seconds,
                "ttlSecondsAfterFinished": 3 * 86400,
                "template": {"metadata": {"labels": labels}, "spec": pod_spec(account, source, repository)},
            },
        },
    }


def pod_spec(account: pulumi.Input[str], source: BackupSource, repository: BackupRepository) -> k8s.core.v1.PodSpecArgsDict:
    work_mount: k8s.core.v1.VolumeMountArgsDict = {"name": "work", "mountPath": WORK_DIR}
    tmp_mount: k8s.core.v1.VolumeMountArgsDict = {"name": "tmp", "mountPath": "/tmp"}  # noqa: S108 - a private emptyDir
    snapshot: k8s.core.v1.ContainerArgsDict = {
        "name": f"{source.tag}-snapshot",
        "image": source.image,
        "imagePullPolicy": "Always",
        "command": [*source.command, source.script],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "securityContext": kube.container_security(),
        "volumeMounts": [work_mount, tmp_mount, *source.mounts],
    }
    script = restic_backup_script(
        target=repository.target,
        source=f"{WORK_DIR}/{source.file_name}",
        tag=source.tag,
        hostname=repository.hostname,
        retention=repository.retention,
        timeout_seconds=repository.timeout_seconds,
        initialise=source.tag == repository.initialiser,
    )
    restic_mounts: list[k8s.core.v1.VolumeMountArgsDict] = [
        work_mount,
        tmp_mount,
        {"name": "repository-credentials", "mountPath": CREDENTIALS_DIR, "readOnly": True},
    ]
    volumes: list[k8s.core.v1.VolumeArgsDict] = [
        # The snapshot: as large as the data, so no memory-backed medium.
        {"name": "work", "emptyDir": {}},
        kube.tmp_volume(size="1Gi"),  # restic's cache
        {"name": "repository-credentials", "secret": {"secretName": repository.secret_name, "defaultMode": 0o440}},
        *source.volumes,
    ]
    if repository.volume_claim is not None:
        restic_mounts.append({"name": "repository", "mountPath": VOLUME_DIR})
        volumes.append({"name": "repository", "persistentVolumeClaim": {"claimName": repository.volume_claim}})
    upload: k8s.core.v1.ContainerArgsDict = {
        "name": "restic",
        "image": repository.image,
        "imagePullPolicy": "Always",
        "command": ["sh", "-c", script],
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "securityContext": kube.container_security(),
        "volumeMounts": restic_mounts,
    }
    return {
        "restartPolicy": "Never",
        "serviceAccountName": account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": kube.pod_security(),
        # The snapshot first, and only if it succeeds the upload.
        "initContainers": [snapshot],
        "containers": [upload],
        "volumes": volumes,
    }
