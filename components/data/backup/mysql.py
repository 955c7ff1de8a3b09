"""Scheduled backups of the in-cluster MySQL: a consistent dump, into the stack's backup repository."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.config import ServerBackup
from components.data.backup.commands import mysql_dump_script
from components.data.backup.job import WORK_DIR, BackupSource, scheduled_backup
from components.data.backup.repository import BackupRepository
from components.data.mysql_client import CLIENT_CONFIG, CLIENT_CONFIG_DIR, CLIENT_CONFIG_KEY
from components.kube import PodSelector

DUMP_FILE = "mysql.sql"


@dataclass(frozen=True)
class MySqlBackupArgs:
    config: ServerBackup
    repository: BackupRepository
    image: str  # the server's image: its mysqldump matches the server
    namespace: pulumi.Input[str]
    host: pulumi.Input[str]  # the MySQL client Service's in-cluster DNS name
    port: int
    database: str
    secret_name: pulumi.Input[str]  # the server's Secret, which holds the client option file


class MySqlBackup(pulumi.ComponentResource):
    """A CronJob: `mysqldump --single-transaction`, then restic."""

    pod_selector: PodSelector  # the backup pods, which MySQL must admit

    def __init__(self, name: str, args: MySqlBackupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fastapi-service:data:MySqlBackup", name, None, opts)
        script = pulumi.Output.from_input(args.host).apply(
            lambda host: mysql_dump_script(
                defaults_file=CLIENT_CONFIG, host=host, port=args.port, database=args.database, output=f"{WORK_DIR}/{DUMP_FILE}"
            )
        )
        source = BackupSource(
            tag="mysql",
            image=args.image,
            script=script,
            command=["bash", "-c"],
            file_name=DUMP_FILE,
            # Only the client option file: the job never sees the app's password.
            volumes=[
                {
                    "name": "client-config",
                    "secret": {
                        "secretName": args.secret_name,
                        "items": [{"key": CLIENT_CONFIG_KEY, "path": CLIENT_CONFIG_KEY}],
                        "defaultMode": 0o440,
                    },
                }
            ],
            mounts=[{"name": "client-config", "mountPath": CLIENT_CONFIG_DIR, "readOnly": True}],
        )
        self.pod_selector = scheduled_backup(
            name,
            kind="mysql-backup",
            namespace=args.namespace,
            schedule=args.config.schedule,
            source=source,
            repository=args.repository,
            parent=self,
        )
        self.register_outputs({"podSelector": self.pod_selector})
