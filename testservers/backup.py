"""The backup jobs' steps as the pods run them (`dump_mysql`, `snapshot_redis`, `run_restic_backup`)
and the operator's restore tool (`run_restore`): shared by tests/components/data/backup/ and
`python -m recovery.drill`, so the drill measures exactly what the tests prove."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.config import Retention
from components.data.backup.commands import ResticTarget, mysql_dump_script, redis_snapshot_script, restic_backup_script
from testservers.process import REPOSITORY_ROOT
from testservers.restic import PodShell
from testservers.s3 import S3Server

# Day, week and month buckets in UTC, as in the pods (no TZ, no tzdata).
POD_ENV = {"TZ": "UTC"}


@dataclass(frozen=True)
class Repository:
    """A restic repository on the S3 server, as a pod and as an operator reach it."""

    target: ResticTarget  # the pod's view: files for the secrets
    env: dict[str, str]  # the operator's view: restic's environment variables
    secrets: tuple[str, ...]  # must appear in no script's output


def s3_repository(s3: S3Server, secrets_dir: Path, path: str, password: str) -> Repository:
    """A repository at `path` in the bucket (created by its first backup), its secrets in files as the pods mount them."""
    password_file = secrets_dir / f"{path}.password"
    password_file.write_text(password)
    secret_key_file = secrets_dir / f"{path}.s3-secret-key"
    secret_key_file.write_text(s3.secret_access_key)
    for secret in (password_file, secret_key_file):
        secret.chmod(0o600)
    cache = secrets_dir / f"{path}.cache"
    target = ResticTarget(
        repository=s3.repository(path),
        password_file=str(password_file),
        s3_access_key_id=s3.access_key_id,
        s3_secret_key_file=str(secret_key_file),
        s3_region=s3.region,
        cache_dir=str(cache),
    )
    env = {
        **s3.client_env(),
        **POD_ENV,
        "RESTIC_REPOSITORY": target.repository,
        "RESTIC_PASSWORD_FILE": str(password_file),
        "RESTIC_CACHE_DIR": str(cache),
    }
    return Repository(target, env, (password, s3.secret_access_key))


def dump_mysql(port: int, defaults_file: Path, output: Path, database: str, *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The MySQL backup's snapshot container: mysql_dump_script under bash, as in the MySQL image."""
    script = mysql_dump_script(defaults_file=str(defaults_file), host="127.0.0.1", port=port, database=database, output=str(output))
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=timeout, check=False)


def snapshot_redis(port: int, password_file: Path, output: Path, *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The Redis backup's snapshot container: redis_snapshot_script under the host's `sh` (dash, as in the Redis image)."""
    script = redis_snapshot_script(password_file=str(password_file), host="127.0.0.1", port=port, output=str(output))
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=timeout, check=False)


def run_restic_backup(
    shell: PodShell,
    repository: Repository,
    source: Path,
    *,
    work: Path,
    tag: str,
    host: str,
    retention: Retention,
    timeout_seconds: int,
    initialise: bool = True,
) -> subprocess.CompletedProcess[str]:
    """The restic container: restic_backup_script in the pod's shell, `work` (the emptyDir) as HOME and TMPDIR."""
    script = restic_backup_script(
        target=repository.target,
        source=str(source),
        tag=tag,
        hostname=host,
        retention=retention,
        timeout_seconds=timeout_seconds,
        initialise=initialise,
    )
    return shell.run(script, env={"HOME": str(work), "TMPDIR": str(work), **POD_ENV}, timeout=timeout_seconds + 60)


def restic_summary(stdout: str) -> dict[str, Any]:
    """restic's JSON backup summary: the backup script's only line on stdout; ValueError if it is not that."""
    lines = stdout.splitlines()
    if len(lines) != 1:
        raise ValueError(f"expected restic's summary as the only line on stdout, got {len(lines)} lines")
    summary: dict[str, Any] = json.loads(lines[0])
    if summary.get("message_type") != "summary":
        raise ValueError(f"not restic's backup summary: {lines[0][:200]}")
    return summary


def run_restore(restic: str, repository: Repository, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m recovery.restore` as an operator runs it: the repository named by restic's environment variables."""
    return subprocess.run(
        [sys.executable, "-m", "recovery.restore", "--restic", restic, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **repository.env},
        cwd=REPOSITORY_ROOT,
        timeout=timeout,
        check=False,
    )
