"""The drill's steps: one CronJob run (snapshot, then restic), the restores through the operator's
tool, the checks that every row and key came back, and the RPO of the committed schedules."""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

from components.config import ConfigError, StackConfig, backed_up
from components.config.cron import longest_interval_seconds
from offline.stack_config import committed_stacks, stack_settings
from offline.stack_file import StackFileError
from recovery.drill.report import duration, size
from recovery.drill.rig import DATABASE, REPOSITORY_PATH, RESTIC_HOST, Drill, DrillError, Rig, failed, new_directory, running
from testservers import MariaDB, RedisServer, find_binary
from testservers.app_data import ITEM_KEY_PREFIX, item_rows
from testservers.backup import restic_summary, run_restic_backup, run_restore
from testservers.s3 import S3Server

BACKUP_BUDGET_SECONDS = 900
RESTORE_TIMEOUT_SECONDS = 900
CURL_TIMEOUT_SECONDS = 60
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
S3_NAMESPACE = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def committed_config(stack: str) -> StackConfig:
    """Pulumi.<stack>.yaml as the program reads it, with placeholders for the secrets a user sets."""
    try:
        return stack_settings(stack)
    except (ConfigError, StackFileError) as error:
        raise ValueError(str(error)) from error


def recovery_points(drill: Drill, backup_seconds: dict[str, float]) -> list[dict[str, Any]]:
    points = []
    for stack in committed_stacks():
        config = committed_config(stack)
        enabled = backed_up(config)
        for server, backup in (("mysql", config.mysql.backup), ("redis", config.redis.backup)):
            point: dict[str, Any] = {"stack": stack, "server": server, "backed_up": server in enabled}
            if server in enabled:
                interval = longest_interval_seconds(backup.schedule)
                point |= {
                    "schedule": backup.schedule,
                    "interval_seconds": interval,
                    # Data written just after a run's snapshot is safe only once the next run's upload is done.
                    "backup_run_seconds": round(backup_seconds[server]),
                    "worst_case_seconds": round(interval + backup_seconds[server]),
                }
            points.append(point)
            drill.log(
                f"RPO {stack} {server}: "
                + (f"{point['schedule']!r}, every {duration(point['interval_seconds'])}" if point["backed_up"] else "not backed up")
            )
    return points


def bucket_bytes(s3: S3Server, prefix: str) -> int:
    """The bytes of every object under `prefix` in the bucket, by S3's ListObjectsV2 (curl signs it)."""
    total, token = 0, ""
    while True:
        query = {"list-type": "2", "prefix": prefix} | ({"continuation-token": token} if token else {})
        listed = subprocess.run(
            ["curl", "-sS", "--fail", "-K", "-", "--aws-sigv4", f"aws:amz:{s3.region}:s3",
             # SeaweedFS wants the payload's hash sent, which curl computes but does not send (scripts/s3/README.md).
             "-H", f"x-amz-content-sha256: {EMPTY_SHA256}", f"{s3.endpoint}/{s3.bucket}?{urlencode(sorted(query.items()))}"],
            input=f'user = "{s3.access_key_id}:{s3.secret_access_key}"\n',  # the key pair on stdin, not on argv
            capture_output=True,
            text=True,
            timeout=CURL_TIMEOUT_SECONDS,
            check=False,
        )  # fmt: skip
        if listed.returncode != 0:
            failed(listed, "listing the bucket (curl)")
        root = ElementTree.fromstring(listed.stdout)  # noqa: S314 - our own S3 server's answer
        total += sum(int(size.text or 0) for size in root.iter(f"{S3_NAMESPACE}Size"))
        token = root.findtext(f"{S3_NAMESPACE}NextContinuationToken") or ""
        if root.findtext(f"{S3_NAMESPACE}IsTruncated") != "true":
            return total


def versions(restic: str) -> dict[str, str]:
    found = {}
    for name, binary in (("restic", restic), ("mariadb", find_binary("mariadbd")), ("redis", find_binary("redis-server"))):
        if binary is None:
            found[name] = "not found"
            continue
        done = subprocess.run(
            [binary, "version" if name == "restic" else "--version"], capture_output=True, text=True, timeout=30, check=False
        )
        found[name] = done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else "unknown"
    return found


def back_up(
    drill: Drill, rig: Rig, tag: str, snapshot: Callable[[Path], subprocess.CompletedProcess[str]], file_name: str
) -> dict[str, Any]:
    """One CronJob run: the snapshot container into a fresh emptyDir, then the restic container."""
    work = Path(tempfile.mkdtemp(prefix=f"{tag}-work-", dir=rig.scratch))
    source = work / file_name
    before = bucket_bytes(rig.s3, f"{REPOSITORY_PATH}/")
    taken, dump_seconds = drill.timed(lambda: snapshot(source))
    if taken.returncode != 0:
        failed(taken, f"the {tag} snapshot script")
    uploaded, restic_seconds = drill.timed(
        lambda: run_restic_backup(
            rig.shell,
            rig.repository,
            source,
            work=work,
            tag=tag,
            host=RESTIC_HOST,
            retention=rig.retention,
            timeout_seconds=BACKUP_BUDGET_SECONDS,
        )
    )
    if uploaded.returncode != 0:
        failed(uploaded, "the restic backup script")
    for secret in rig.repository.secrets:
        if secret in taken.stdout + taken.stderr + uploaded.stdout + uploaded.stderr:
            raise RuntimeError("a secret reached the job's output")
    summary = restic_summary(uploaded.stdout)
    after = bucket_bytes(rig.s3, f"{REPOSITORY_PATH}/")
    figures = {
        "snapshot_bytes": source.stat().st_size,
        "dump_seconds": dump_seconds,
        "restic_seconds": restic_seconds,
        "total_seconds": round(dump_seconds + restic_seconds, 2),
        "data_added": summary["data_added"],
        "data_added_packed": summary["data_added_packed"],
        "bucket_bytes_before": before,
        "bucket_bytes_after": after,
        "bucket_bytes_added": after - before,
        "snapshot_id": summary["snapshot_id"],
    }
    drill.log(
        f"{tag}: {size(figures['snapshot_bytes'])} snapshot in {dump_seconds:.1f} s, restic {restic_seconds:.1f} s,"
        f" uploaded {size(figures['data_added_packed'])} (bucket {after - before:+,} bytes)"
    )
    return figures


def restore_mysql(drill: Drill, rig: Rig, target: MariaDB) -> float:
    target.setup_user()
    password_file = rig.private_file("restore-mysql-password", target.password)
    args = [
        "mysql", f"--host={RESTIC_HOST}", "--mysql-host=127.0.0.1", f"--mysql-port={target.port}",
        f"--mysql-user={target.user}", f"--mysql-password-file={password_file}", f"--database={DATABASE}",
    ]  # fmt: skip
    done, seconds = drill.timed(lambda: run_restore(rig.restic, rig.repository, *args, timeout=RESTORE_TIMEOUT_SECONDS))
    if done.returncode != 0:
        failed(done, "recovery.restore mysql")
    return seconds


def table_facts(server: MariaDB) -> dict[str, Any]:
    rows = item_rows(server, DATABASE)
    checksum = server.sql("CHECKSUM TABLE items EXTENDED", DATABASE).split()[-1]
    return {"rows": len(rows), "checksum_table": checksum, "rows_sha256": hashlib.sha256("\n".join(rows).encode()).hexdigest()}


def verify_mysql(drill: Drill, source: MariaDB, restored: MariaDB, items: int) -> dict[str, Any]:
    expected, found = table_facts(source), table_facts(restored)
    if expected["rows"] != items:
        raise DrillError("verify MySQL", f"the source holds {expected['rows']} rows, not the {items} loaded")
    for fact in ("rows", "checksum_table", "rows_sha256"):
        if expected[fact] != found[fact]:
            raise DrillError("verify MySQL", f"{fact} differs: source {expected[fact]}, restored {found[fact]}")
    drill.log(
        f"MySQL: {found['rows']:,} rows restored equal (CHECKSUM TABLE {found['checksum_table']}, sha256 {found['rows_sha256'][:12]})"
    )
    return {"source": expected, "restored": found, "equal": True}


def verify_redis(drill: Drill, source: RedisServer, restored: RedisServer, keys: int) -> dict[str, Any]:
    expected, found = source.keyspace(), restored.keyspace()
    items = sum(key.startswith(ITEM_KEY_PREFIX.encode()) for key in expected)
    if items != keys:
        raise DrillError("verify Redis", f"the source holds {items} item-cache keys, not the {keys} loaded")
    if expected != found:
        missing, extra = len(expected.keys() - found.keys()), len(found.keys() - expected.keys())
        changed = sum(found[key] != value for key, value in expected.items() if key in found)
        raise DrillError("verify Redis", f"keys differ: {missing} missing, {extra} extra, {changed} with another value or expiry")
    with_ttl = sum(expiry > 0 for _, _, expiry in found.values())
    drill.log(f"Redis: {len(found):,} keys restored equal (type, value and expiry; {with_ttl:,} with a TTL)")
    return {"source_keys": len(expected), "restored_keys": len(found), "keys_with_ttl": with_ttl, "equal": True}


def restore_redis(drill: Drill, rig: Rig, servers: ExitStack, append_only: bool) -> tuple[RedisServer, dict[str, float]]:
    """restore.py's files into an empty data directory, then a server started on it: both timed."""
    data_dir = new_directory(rig.scratch, "redis-restored")
    args = ["redis", f"--host={RESTIC_HOST}", f"--data-dir={data_dir}"]
    written, restore_seconds = drill.timed(lambda: run_restore(rig.restic, rig.repository, *args, timeout=RESTORE_TIMEOUT_SECONDS))
    if written.returncode != 0:
        failed(written, "recovery.restore redis")
    server, start_seconds = drill.timed(lambda: servers.enter_context(running(RedisServer(data_dir, append_only=append_only))))
    figures = {
        "restore_seconds": restore_seconds,
        "start_and_load_seconds": start_seconds,
        "total_seconds": round(restore_seconds + start_seconds, 2),
    }
    return server, figures
