"""Nightly logical backups of the in-cluster MySQL: a CronJob writing compressed dumps to a PVC."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.backup_commands import backup_script
from components.config import MySqlBackup as MySqlBackupConfig
from components.endpoints import PodSelector
from components.mysql_client import CLIENT_CONFIG, CLIENT_CONFIG_DIR, CLIENT_CONFIG_KEY

BACKUP_DIR = "/backups"


@dataclass(frozen=True)
class MySqlBackupArgs:
    config: MySqlBackupConfig
    image: str
    namespace: pulumi.Input[str]
    host: pulumi.Input[str]  # the MySQL client Service's in-cluster DNS name
    port: int
    database: str
    secret_name: pulumi.Input[str]  # holds `client.cnf` (the root user's client option file)
    protect: bool = False


class MySqlBackup(pulumi.ComponentResource):
    """A CronJob that dumps the database to its own PVC and keeps `retentionDays` of dumps.

    The PVC lives in the cluster: it covers operator mistakes, not the loss of the cluster.
    Copy the dumps off-cluster (velero, a sidecar sync) for disaster recovery.
    """

    pod_selector: PodSelector  # the backup job's pods, which MySQL must admit

    def __init__(self, name: str, args: MySqlBackupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fastapi-service:data:MySqlBackup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The dumps outlive a mistaken `pulumi destroy` in prod, like the database volume.
        kept = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect))
        labels = kube.labels(name="mysql-backup", instance=name, component="backup")
        self.pod_selector = kube.selector(name="mysql-backup", instance=name)

        storage = args.config.storage
        claim_spec: k8s.core.v1.PersistentVolumeClaimSpecArgsDict = {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": storage.class_name,
            "resources": {"requests": {"storage": storage.size}},
        }
        claim = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-storage", metadata=kube.metadata(f"{name}-storage", args.namespace, labels), spec=claim_spec, opts=kept
        )
        account = k8s.core.v1.ServiceAccount(
            name,
            metadata=kube.metadata(name, args.namespace, labels),
            automount_service_account_token=False,
            opts=child,
        )
        script = pulumi.Output.from_input(args.host).apply(
            lambda host: backup_script(
                defaults_file=CLIENT_CONFIG,
                host=host,
                port=args.port,
                database=args.database,
                directory=BACKUP_DIR,
                retention_days=args.config.retention_days,
            )
        )
        cron_spec: k8s.batch.v1.CronJobSpecArgsDict = {
            "schedule": args.config.schedule,
            "timeZone": "Etc/UTC",
            # Never two dumps at once: a slow dump must not pile up behind itself.
            "concurrencyPolicy": "Forbid",
            # A run missed while the controller was down still happens within the hour.
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": {
                    "backoffLimit": 2,
                    "activeDeadlineSeconds": 2 * 3600,
                    "ttlSecondsAfterFinished": 3 * 86400,
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": _pod_spec(args, account.metadata.name, claim.metadata.name, script),
                    },
                },
            },
        }
        k8s.batch.v1.CronJob(
            name,
            metadata=kube.metadata(name, args.namespace, labels),
            spec=cron_spec,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[claim])),
        )
        self.register_outputs({"podSelector": self.pod_selector})


def _pod_spec(
    args: MySqlBackupArgs, account: pulumi.Input[str], claim: pulumi.Input[str], script: pulumi.Input[str]
) -> k8s.core.v1.PodSpecArgsDict:
    container: k8s.core.v1.ContainerArgsDict = {
        "name": "mysqldump",
        # The server's own image: mysqldump matches the server version, and it has bash and gzip.
        "image": args.image,
        "imagePullPolicy": "Always",
        "command": ["bash", "-c", script],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "securityContext": kube.container_security(),
        "volumeMounts": [
            {"name": "backups", "mountPath": BACKUP_DIR},
            {"name": "client-config", "mountPath": CLIENT_CONFIG_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - a private emptyDir, not the host's /tmp
        ],
    }
    volumes: list[k8s.core.v1.VolumeArgsDict] = [
        {"name": "backups", "persistentVolumeClaim": {"claimName": claim}},
        # Only the client option file: the job never sees the app password.
        {
            "name": "client-config",
            "secret": {
                "secretName": args.secret_name,
                "items": [{"key": CLIENT_CONFIG_KEY, "path": CLIENT_CONFIG_KEY}],
                "defaultMode": 0o440,
            },
        },
        kube.tmp_volume(),
    ]
    return {
        "restartPolicy": "Never",
        "serviceAccountName": account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": kube.pod_security(),
        "containers": [container],
        "volumes": volumes,
    }
