"""Nightly logical backups of the in-cluster MySQL: a CronJob writing compressed dumps to a PVC.

The dump and restore commands live here, once: the CronJob runs `backup_script(...)` and
`tests/test_backup_commands.py` runs the very same text against a real MariaDB server.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.config import MySqlBackup as MySqlBackupConfig

BACKUP_DIR = "/backups"
CLIENT_CONFIG_DIR = "/etc/mysql/secrets"
CLIENT_CONFIG_KEY = "client.cnf"


def client_option_file(password: str, user: str = "root") -> str:
    """A MySQL client option file: clients read credentials from it instead of their argv."""
    escaped = password.replace("\\", "\\\\").replace('"', '\\"')
    return f'[client]\nuser = {user}\npassword = "{escaped}"\n'


def _connection(defaults_file: str, host: str, port: int) -> str:
    # --defaults-extra-file must come first; it carries user and password, so neither is on argv.
    return f"--defaults-extra-file={shlex.quote(defaults_file)} --host={shlex.quote(host)} --port={port} --default-character-set=utf8mb4"


def dump_command(*, defaults_file: str, host: str, port: int, database: str, directory: str) -> str:
    """Dump `database` to `<directory>/<database>-<UTC time>.sql.gz`, atomically.

    --single-transaction gives a consistent InnoDB snapshot without locking the app out. No
    --databases: the dump carries no CREATE DATABASE/USE, so it restores into any database
    (a scratch one to verify it first). The dump goes to a hidden partial file and is renamed
    only when mysqldump and gzip both succeeded (pipefail), so a failed run never looks complete.
    """
    target = shlex.quote(f"{directory}/{database}")
    partial = shlex.quote(f"{directory}/.{database}")
    return (
        'stamp="$(date -u +%Y%m%dT%H%M%SZ)"\n'
        f"mysqldump {_connection(defaults_file, host, port)} --single-transaction --routines --triggers --events"
        f' --no-tablespaces --hex-blob {shlex.quote(database)} | gzip -c > {partial}-"$stamp".partial\n'
        f'mv {partial}-"$stamp".partial {target}-"$stamp".sql.gz\n'
        f'echo "backup written: {directory}/{database}-$stamp.sql.gz"\n'
    )


def prune_command(*, database: str, directory: str, retention_days: int) -> str:
    """Delete this database's dumps (and abandoned partials) older than `retention_days` days."""
    minutes = retention_days * 24 * 60
    name = shlex.quote(f"{database}-*.sql.gz")
    partial = shlex.quote(f".{database}-*.partial")
    return (
        f"find {shlex.quote(directory)} -maxdepth 1 -type f -name {name} -mmin +{minutes} -print -delete\n"
        f"find {shlex.quote(directory)} -maxdepth 1 -type f -name {partial} -mmin +1440 -print -delete\n"
    )


def backup_script(*, defaults_file: str, host: str, port: int, database: str, directory: str, retention_days: int) -> str:
    """The CronJob's bash script: dump, then prune, and prune only after a dump succeeded."""
    return (
        "set -euo pipefail\n"
        + dump_command(defaults_file=defaults_file, host=host, port=port, database=database, directory=directory)
        + prune_command(database=database, directory=directory, retention_days=retention_days)
    )


def restore_command(*, defaults_file: str, host: str, port: int, database: str, dump_file: str) -> str:
    """Restore a dump into `database`, creating it if needed (restore to a new name, check, then switch)."""
    connection = _connection(defaults_file, host, port)
    create = shlex.quote(f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4")
    return (
        "set -euo pipefail\n"
        f"mysql {connection} --execute={create}\n"
        f"gunzip -c {shlex.quote(dump_file)} | mysql {connection} {shlex.quote(database)}\n"
    )


@dataclass(frozen=True)
class MySqlBackupArgs:
    config: MySqlBackupConfig
    image: str
    namespace: pulumi.Input[str]
    provider: k8s.Provider
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

    def __init__(self, name: str, args: MySqlBackupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fastapi-service:data:MySqlBackup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
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
                defaults_file=f"{CLIENT_CONFIG_DIR}/{CLIENT_CONFIG_KEY}",
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
        self.cron_job = k8s.batch.v1.CronJob(
            name,
            metadata=kube.metadata(name, args.namespace, labels),
            spec=cron_spec,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[claim])),
        )
        self.register_outputs({"cronJob": self.cron_job.metadata.name, "storage": claim.metadata.name})


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
