"""The stack's backup repository: an encrypted restic repository off-site on S3, or on a volume
in the cluster (dev), and the credentials every backup job opens it with."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.config import BackupConfig, Retention
from components.data.backup.commands import ResticTarget
from components.kube.passwords import given_or_generated
from components.network.peers import S3Endpoint

# Where a backup pod mounts the repository's credentials and, for the volume target, the repository.
CREDENTIALS_DIR = "/etc/restic"
PASSWORD_FILE = "repository-password"  # noqa: S105 - a file name
S3_SECRET_KEY_FILE = "s3-secret-key"  # noqa: S105 - a file name
VOLUME_DIR = "/backups"


@dataclass(frozen=True)
class BackupRepositoryArgs:
    config: BackupConfig
    namespace: pulumi.Input[str]
    stack: str  # restic's --host: one stack's snapshots, whatever pod took them
    # The one job that may create the repository (its tag): two `restic init` at once leave a
    # repository that no longer opens (components/data/backup/commands.py).
    initialiser: str
    password: pulumi.Output[str] | None = None  # from secret config; else generated (dev only: prod requires one)
    s3_secret_key: pulumi.Output[str] | None = None
    protect: bool = False


class BackupRepository(pulumi.ComponentResource):
    """The repository's credentials Secret and, for the volume target, its volume."""

    target: ResticTarget  # how a backup container reaches and opens the repository
    retention: Retention
    secret_name: pulumi.Output[str]  # mounted at CREDENTIALS_DIR
    volume_claim: pulumi.Output[str] | None  # mounted at VOLUME_DIR (volume target)
    s3_endpoint: S3Endpoint | None  # s3 target
    image: str
    timeout_seconds: int
    hostname: str
    initialiser: str

    def __init__(self, name: str, args: BackupRepositoryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fastapi-service:data:BackupRepository", name, None, opts)
        config, child = args.config, pulumi.ResourceOptions(parent=self)
        labels = kube.labels(name="backup", instance=name, component="backup")
        # The password opens every snapshot: protected in prod, where losing it loses the backups.
        password = given_or_generated(f"{name}-password", args.password, parent=self, length=40, protect=args.protect)
        files: dict[str, pulumi.Input[str]] = {PASSWORD_FILE: password}
        if config.target == "s3" and args.s3_secret_key is not None:
            files[S3_SECRET_KEY_FILE] = pulumi.Output.secret(args.s3_secret_key)
        secret = k8s.core.v1.Secret(
            name, metadata=kube.metadata(name, args.namespace, labels), type="Opaque", string_data=files, opts=child
        )

        self.volume_claim = None
        self.s3_endpoint = None
        if config.target == "s3":
            assert config.s3 is not None  # the config rules require it for the s3 target
            location = urlparse(config.s3.endpoint)
            repository = f"s3:{config.s3.endpoint.rstrip('/')}/{config.s3.bucket}" + (
                f"/{config.s3.path.strip('/')}" if config.s3.path else ""
            )
            self.s3_endpoint = S3Endpoint(location.hostname or "", location.port or (443 if location.scheme == "https" else 80))
            self.target = ResticTarget(
                repository=repository,
                password_file=f"{CREDENTIALS_DIR}/{PASSWORD_FILE}",
                s3_access_key_id=config.s3.access_key_id,
                s3_secret_key_file=f"{CREDENTIALS_DIR}/{S3_SECRET_KEY_FILE}",
                s3_region=config.s3.region,
            )
        else:
            claim = k8s.core.v1.PersistentVolumeClaim(
                f"{name}-volume",
                metadata=kube.metadata(f"{name}-volume", args.namespace, labels),
                spec={
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": config.volume.class_name,
                    "resources": {"requests": {"storage": config.volume.size}},
                },
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
            )
            self.volume_claim = claim.metadata.name
            self.target = ResticTarget(repository=f"{VOLUME_DIR}/restic", password_file=f"{CREDENTIALS_DIR}/{PASSWORD_FILE}")
        self.retention = config.retention
        self.secret_name = secret.metadata.name
        self.image = config.image
        self.timeout_seconds = config.timeout_minutes * 60
        self.hostname = args.stack
        self.initialiser = args.initialiser
        self.register_outputs({"repository": self.target.repository})
