"""Scheduled backups of the in-cluster Redis: an RDB snapshot over an authenticated connection,
into the stack's backup repository."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.config import ServerBackup
from components.data.backup.commands import redis_snapshot_script
from components.data.backup.job import WORK_DIR, BackupSource, scheduled_backup
from components.data.backup.repository import BackupRepository
from components.kube import PodSelector

SNAPSHOT_FILE = "dump.rdb"
PASSWORD_DIR = "/etc/redis/secret"  # noqa: S105 - a mount path


@dataclass(frozen=True)
class RedisBackupArgs:
    config: ServerBackup
    repository: BackupRepository
    image: str  # the server's image: its redis-cli speaks the server's protocol
    namespace: pulumi.Input[str]
    host: pulumi.Input[str]  # the Redis client Service's in-cluster DNS name
    port: int
    secret_name: pulumi.Input[str]  # the server's Secret, which holds the password file


class RedisBackup(pulumi.ComponentResource):
    """A CronJob: `redis-cli --rdb`, then restic."""

    pod_selector: PodSelector  # the backup pods, which Redis must admit

    def __init__(self, name: str, args: RedisBackupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fastapi-service:data:RedisBackup", name, None, opts)
        script = pulumi.Output.from_input(args.host).apply(
            lambda host: redis_snapshot_script(
                password_file=f"{PASSWORD_DIR}/password", host=host, port=args.port, output=f"{WORK_DIR}/{SNAPSHOT_FILE}"
            )
        )
        source = BackupSource(
            tag="redis",
            image=args.image,
            script=script,
            command=["sh", "-c"],
            file_name=SNAPSHOT_FILE,
            volumes=[
                {
                    "name": "redis-password",
                    "secret": {"secretName": args.secret_name, "items": [{"key": "password", "path": "password"}], "defaultMode": 0o440},
                }
            ],
            mounts=[{"name": "redis-password", "mountPath": PASSWORD_DIR, "readOnly": True}],
        )
        self.pod_selector = scheduled_backup(
            name,
            kind="redis-backup",
            namespace=args.namespace,
            schedule=args.config.schedule,
            source=source,
            repository=args.repository,
            parent=self,
        )
        self.register_outputs({"podSelector": self.pod_selector})
