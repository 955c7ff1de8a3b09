#!/usr/bin/env python3
"""The backup/restore drill: back up real servers as the CronJobs do, restore them with the
operator's tool into servers that never held the data, check every row and key, and report.

    drill.py [--items N] [--keys M] --out DIR        (make backup-drill)

Everything runs on 127.0.0.1 in a scratch directory the drill removes: a MariaDB holding the app's
`items` table (N rows), a Redis holding the app's item cache (M keys of service:v1:item:<id>, with
a TTL; append-only as Pulumi.prod.yaml runs it), SeaweedFS's S3 gateway with a bucket, and a
restic repository there whose password and S3 secret key are files, as the pods mount them.

- Backups: the CronJobs' own scripts (components/backup_commands.py): the dump or snapshot into a
  directory (the pod's emptyDir), then the restic script in busybox's sh with only busybox and
  restic on PATH; the retention and job budget come from Pulumi.prod.yaml. Each server is backed up
  twice, the second time unchanged, to show what deduplication leaves to upload.
- Restores: scripts/backup/restore.py, as an operator runs it, into fresh servers; then every row
  (count, CHECKSUM TABLE and a SHA-256 of all rows in id order) and every key (type, value, expiry)
  is compared with the source.
- RPO: the longest interval between two runs of each backup CronJob of the committed stacks. RTO:
  the measured restore, Redis's start and load included; provisioning the servers is not.

DIR gets report.json (every figure) and report.md (the table, also printed). DIR must be empty or
hold only those two files: the drill never deletes what it did not write. Progress goes to stderr,
one timestamped line per step. Exit 1 when a step fails or anything differs, with one line naming
the step; exit 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlencode
from xml.etree import ElementTree

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY_ROOT))

# The repository's own modules: the CronJobs' scripts and the stacks' config, as the deploy reads them.
from components.backup_commands import Retention  # noqa: E402
from components.config import ConfigError, StackConfig, backed_up  # noqa: E402
from components.config.cron import longest_interval_seconds  # noqa: E402
from components.mysql_client import client_option_file  # noqa: E402
from offline.engine import stack_settings  # noqa: E402
from offline.stack_file import StackFileError  # noqa: E402
from testservers import MariaDB, RedisServer, ServerProcess, find_binary  # noqa: E402
from testservers.backup import (  # noqa: E402
    ITEM_KEY_PREFIX,
    ITEMS_TABLE,
    PodShell,
    Repository,
    S3Server,
    dump_mysql,
    fill_item_cache,
    insert_items,
    item_rows,
    restic_binary,
    restic_summary,
    run_restic_backup,
    run_restore,
    s3_repository,
    s3_server,
    seaweedfs_binary,
    snapshot_redis,
)

REPORT_FILES = ("report.json", "report.md")
STACKS = ("prod", "dev")
SETTINGS_STACK = "prod"  # whose retention, job budget and Redis persistence the drill runs with
DATABASE = "app"
RESTIC_HOST = "drill"  # restic's --host: a stack's name in the cluster
REPOSITORY_PATH = "drill"
# Longer than the drill: a key that expired mid-drill would differ for a reason that is not the backup.
CACHE_TTL_SECONDS = 3600
# Each step's bound on this machine is far below these; they stop a hung tool, not a slow one.
BACKUP_BUDGET_SECONDS = 900
DUMP_TIMEOUT_SECONDS = 600
RESTORE_TIMEOUT_SECONDS = 900
CURL_TIMEOUT_SECONDS = 60
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
S3_NAMESPACE = "{http://s3.amazonaws.com/doc/2006-03-01/}"
T = TypeVar("T")
Server = TypeVar("Server", bound=ServerProcess)


class DrillError(Exception):
    """A step that failed or found a difference; reported as one line naming the step."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step


class Drill:
    """The drill's clock, its progress log and the figures measured so far."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.report: dict[str, Any] = {"ok": False, "started_at": datetime.now(UTC).isoformat(timespec="seconds")}

    def log(self, message: str) -> None:
        now = datetime.now(UTC).strftime("%H:%M:%S")
        print(f"[backup-drill {now} +{time.monotonic() - self.started:5.1f}s] {message}", file=sys.stderr, flush=True)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Log the step's start and end; an expected failure inside becomes a DrillError naming it."""
        self.log(f"{name} ...")
        started = time.monotonic()
        try:
            yield
        except DrillError:
            raise
        except (OSError, RuntimeError, ValueError, subprocess.TimeoutExpired) as error:
            # OSError includes MissingBinaryError; RuntimeError, a server that did not start or a failed SQL statement.
            raise DrillError(name, _one_line(error)) from error
        self.log(f"{name}: done in {time.monotonic() - started:.1f} s")

    def timed(self, action: Callable[[], T]) -> tuple[T, float]:
        started = time.monotonic()
        result = action()
        return result, round(time.monotonic() - started, 2)


def _one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = " | ".join(lines[-3:]) if lines else type(error).__name__
    return text[:600]


def _failed(done: subprocess.CompletedProcess[str], what: str) -> NoReturn:
    raise RuntimeError(f"{what} exited {done.returncode}: {_one_line(RuntimeError(done.stderr))}")


# --- the committed stacks' schedules: RPO ----------------------------------------------------------


def committed_config(stack: str) -> StackConfig:
    """Pulumi.<stack>.yaml as the program reads it, with placeholders for the secrets a user sets."""
    try:
        return stack_settings(stack)
    except (ConfigError, StackFileError) as error:
        raise ValueError(str(error)) from error


def recovery_points(drill: Drill, backup_seconds: dict[str, float]) -> list[dict[str, Any]]:
    points = []
    for stack in STACKS:
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
                + (f"{point['schedule']!r}, every {_duration(point['interval_seconds'])}" if point["backed_up"] else "not backed up")
            )
    return points


# --- servers ---------------------------------------------------------------------------------------


@contextmanager
def running(server: Server) -> Iterator[Server]:
    """Start `server` and stop it (its own process, TERM then KILL) on exit, however the drill ended."""
    try:
        server.start()
        yield server
    finally:
        server.stop()


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
            _failed(listed, "listing the bucket (curl)")
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


# --- backup and restore ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rig:
    """What every backup and restore of the drill uses."""

    shell: PodShell
    restic: str
    repository: Repository
    s3: S3Server
    retention: Retention
    scratch: Path

    def private_file(self, name: str, text: str) -> Path:
        path = self.scratch / "secrets" / name
        path.write_text(text)
        path.chmod(0o600)
        return path


def back_up(
    drill: Drill, rig: Rig, tag: str, snapshot: Callable[[Path], subprocess.CompletedProcess[str]], file_name: str
) -> dict[str, Any]:
    """One CronJob run: the snapshot container into a fresh emptyDir, then the restic container."""
    work = Path(tempfile.mkdtemp(prefix=f"{tag}-work-", dir=rig.scratch))
    source = work / file_name
    before = bucket_bytes(rig.s3, f"{REPOSITORY_PATH}/")
    taken, dump_seconds = drill.timed(lambda: snapshot(source))
    if taken.returncode != 0:
        _failed(taken, f"the {tag} snapshot script")
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
        _failed(uploaded, "the restic backup script")
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
        f"{tag}: {_size(figures['snapshot_bytes'])} snapshot in {dump_seconds:.1f} s, restic {restic_seconds:.1f} s,"
        f" uploaded {_size(figures['data_added_packed'])} (bucket {after - before:+,} bytes)"
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
        _failed(done, "restore.py mysql")
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


# --- the drill -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sources:
    """The servers backed up, and the files their backup jobs log in with."""

    db: MariaDB
    cache: RedisServer
    option_file: Path  # the MySQL client option file, as the Secret mounts it
    redis_password_file: Path

    def dump(self, output: Path) -> subprocess.CompletedProcess[str]:
        return dump_mysql(self.db.port, self.option_file, output, DATABASE, timeout=DUMP_TIMEOUT_SECONDS)

    def snapshot(self, output: Path) -> subprocess.CompletedProcess[str]:
        return snapshot_redis(self.cache.port, self.redis_password_file, output, timeout=DUMP_TIMEOUT_SECONDS)


def set_up(drill: Drill, scratch: Path, servers: ExitStack) -> tuple[Rig, bool]:
    """The S3 server, the repository's files and the pod's shell; and whether Redis runs append-only."""
    with drill.step("read the committed stacks"):
        settings = committed_config(SETTINGS_STACK)
        kept = settings.backup.retention
        retention = Retention(daily=kept.daily, weekly=kept.weekly, monthly=kept.monthly)
        append_only = settings.redis.append_only
        drill.report["settings"] = {"stack": SETTINGS_STACK, "retention": vars(retention), "redis_append_only": append_only}

    with drill.step("find restic, SeaweedFS and busybox"):
        restic = restic_binary()
        weed = seaweedfs_binary()
        shell = PodShell(scratch / "pod-bin", restic)
        drill.report["versions"] = versions(restic)

    with drill.step("start the S3 server"):
        s3 = servers.enter_context(s3_server(scratch / "s3", weed))
        (scratch / "secrets").mkdir(mode=0o700)
        repository = s3_repository(s3, scratch / "secrets", REPOSITORY_PATH, f"drill-{uuid.uuid4().hex}")
    return Rig(shell, restic, repository, s3, retention, scratch), append_only


def load_sources(drill: Drill, rig: Rig, servers: ExitStack, *, items: int, keys: int, append_only: bool) -> Sources:
    with drill.step(f"load {items:,} items into a new MySQL"):
        db = servers.enter_context(running(MariaDB(_directory(rig.scratch, "mysql-source"))))
        db.setup_user()
        db.create_database(DATABASE)
        db.sql(ITEMS_TABLE, DATABASE)
        _, drill.report["load_seconds_mysql"] = drill.timed(lambda: insert_items(db, DATABASE, items))
    with drill.step(f"load {keys:,} item-cache keys into a new Redis (appendonly {'yes' if append_only else 'no'})"):
        cache = servers.enter_context(running(RedisServer(_directory(rig.scratch, "redis-source"), append_only=append_only)))
        _, drill.report["load_seconds_redis"] = drill.timed(lambda: fill_item_cache(cache, keys, ttl_seconds=CACHE_TTL_SECONDS))
    return Sources(
        db,
        cache,
        rig.private_file("client.cnf", client_option_file(db.password, user=db.user)),
        rig.private_file("redis-password", cache.password),
    )


def restore_redis(drill: Drill, rig: Rig, servers: ExitStack, append_only: bool) -> tuple[RedisServer, dict[str, float]]:
    """restore.py's files into an empty data directory, then a server started on it: both timed."""
    data_dir = _directory(rig.scratch, "redis-restored")
    args = ["redis", f"--host={RESTIC_HOST}", f"--data-dir={data_dir}"]
    written, restore_seconds = drill.timed(lambda: run_restore(rig.restic, rig.repository, *args, timeout=RESTORE_TIMEOUT_SECONDS))
    if written.returncode != 0:
        _failed(written, "restore.py redis")
    server, start_seconds = drill.timed(lambda: servers.enter_context(running(RedisServer(data_dir, append_only=append_only))))
    figures = {
        "restore_seconds": restore_seconds,
        "start_and_load_seconds": start_seconds,
        "total_seconds": round(restore_seconds + start_seconds, 2),
    }
    return server, figures


def run(drill: Drill, items: int, keys: int, scratch: Path, servers: ExitStack) -> None:
    report = drill.report
    report["sizes"] = {"items": items, "keys": keys}
    rig, append_only = set_up(drill, scratch, servers)
    sources = load_sources(drill, rig, servers, items=items, keys=keys, append_only=append_only)

    mysql: dict[str, Any] = report.setdefault("mysql", {})
    redis: dict[str, Any] = report.setdefault("redis", {})
    for run_name in ("first_backup", "second_backup"):
        with drill.step(f"MySQL backup ({run_name.replace('_', ' ')})"):
            mysql[run_name] = back_up(drill, rig, "mysql", sources.dump, "mysql.sql")
        with drill.step(f"Redis backup ({run_name.replace('_', ' ')})"):
            redis[run_name] = back_up(drill, rig, "redis", sources.snapshot, "dump.rdb")

    with drill.step("restore MySQL into a new server"):
        restored_db, provision = drill.timed(lambda: servers.enter_context(running(MariaDB(_directory(scratch, "mysql-restored")))))
        mysql["restore"] = {"provision_seconds": provision, "restore_seconds": restore_mysql(drill, rig, restored_db)}
    with drill.step("verify MySQL"):
        mysql["verify"] = verify_mysql(drill, sources.db, restored_db, items)

    with drill.step("restore Redis into a new server"):
        restored_cache, redis["restore"] = restore_redis(drill, rig, servers, append_only)
    with drill.step("verify Redis"):
        redis["verify"] = verify_redis(drill, sources.cache, restored_cache, keys)

    with drill.step("RPO from the committed schedules"):
        backup_seconds = {"mysql": mysql["first_backup"]["total_seconds"], "redis": redis["first_backup"]["total_seconds"]}
        report["rpo"] = recovery_points(drill, backup_seconds)
    report["rto"] = {
        "mysql_seconds": mysql["restore"]["restore_seconds"],
        "redis_seconds": redis["restore"]["total_seconds"],
        "note": "measured restore (restic dump and load; Redis's start and load included);"
        " provisioning the servers, scaling the app down and up, and the operator's reaction time are not",
    }
    report["ok"] = True


def _directory(scratch: Path, name: str) -> Path:
    path = scratch / name
    path.mkdir()
    return path


# --- the report ------------------------------------------------------------------------------------


def _size(count: int) -> str:
    return f"{count / 2**20:,.1f} MiB" if count >= 2**20 else f"{count / 2**10:,.1f} KiB"


def _duration(seconds: int) -> str:
    return f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def markdown(report: dict[str, Any]) -> str:
    if not report["ok"]:
        return f"# Backup drill: FAILED\n\n{report.get('error', 'unknown error')}\n"
    mysql, redis, sizes = report["mysql"], report["redis"], report["sizes"]

    def row(label: str, left: object, right: object) -> str:
        return f"| {label} | {left} | {right} |"

    def backups(key: str, label: str) -> list[str]:
        first, second = (server[key] for server in (mysql, redis))
        return [
            row(f"{label}: dump / snapshot", f"{first['dump_seconds']:.1f} s", f"{second['dump_seconds']:.1f} s"),
            row(f"{label}: restic", f"{first['restic_seconds']:.1f} s", f"{second['restic_seconds']:.1f} s"),
            row(f"{label}: total", f"{first['total_seconds']:.1f} s", f"{second['total_seconds']:.1f} s"),
            row(f"{label}: uploaded (restic data_added_packed)", _size(first["data_added_packed"]), _size(second["data_added_packed"])),
            row(f"{label}: bucket objects, change", f"{first['bucket_bytes_added']:+,} B", f"{second['bucket_bytes_added']:+,} B"),
        ]

    lines = [
        f"# Backup drill ({report['started_at']}, {report['wall_seconds']:.0f} s)",
        "",
        row("", "MySQL", "Redis"),
        row("---", "---:", "---:"),
        row("data", f"{sizes['items']:,} items", f"{sizes['keys']:,} keys"),
        row("snapshot file", _size(mysql["first_backup"]["snapshot_bytes"]), _size(redis["first_backup"]["snapshot_bytes"])),
        *backups("first_backup", "1st backup"),
        *backups("second_backup", "2nd backup, unchanged"),
        row("restore (RTO)", f"{mysql['restore']['restore_seconds']:.1f} s", f"{redis['restore']['total_seconds']:.1f} s"),
        row(
            "verified",
            f"{mysql['verify']['restored']['rows']:,} rows equal",
            f"{redis['verify']['restored_keys']:,} keys equal",
        ),
        "",
        "| stack | server | schedule (UTC) | RPO: interval | worst case (+ a backup run) |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for point in report["rpo"]:
        if point["backed_up"]:
            lines.append(
                f"| {point['stack']} | {point['server']} | `{point['schedule']}` | {_duration(point['interval_seconds'])}"
                f" | {_duration(point['interval_seconds'])} + {point['backup_run_seconds']} s |"
            )
        else:
            lines.append(f"| {point['stack']} | {point['server']} | not backed up | | |")
    lines += [
        "",
        f"The 1st MySQL restic run includes `restic init` (the job creates the repository on first use). Redis's restore"
        f" includes starting the server and loading the data ({redis['restore']['start_and_load_seconds']:.1f} s)."
        f" RTO excludes provisioning the servers (here MySQL's: {mysql['restore']['provision_seconds']:.1f} s),"
        " scaling the app down and up, and reaction time. Bucket change: the repository's object bytes after minus"
        " before the run (snapshot and index files included; `forget --prune` removes the older same-day snapshot)."
        f" Retention and Redis persistence from Pulumi.{report['settings']['stack']}.yaml.",
        "",
    ]
    return "\n".join(lines)


def prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise DrillError("--out", f"{out} is not a directory")
    if out.is_dir():
        foreign = sorted(path.name for path in out.iterdir() if path.name not in REPORT_FILES)
        if foreign:
            raise DrillError("--out", f"{out} holds files the drill did not write ({', '.join(foreign[:5])}): give an empty directory")
    out.mkdir(parents=True, exist_ok=True)


def write_report(out: Path, report: dict[str, Any]) -> str:
    table = markdown(report)
    for name, text in (("report.json", json.dumps(report, indent=2) + "\n"), ("report.md", table)):
        partial = out / f".{name}.partial"
        partial.write_text(text)
        partial.replace(out / name)
    return table


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (a CI job cancelled) unwinds like Ctrl-C: every server is stopped, the scratch removed.
    raise KeyboardInterrupt


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root.add_argument("--items", type=int, default=100_000, help="rows in MySQL's items table (default: 100000)")
    root.add_argument("--keys", type=int, default=100_000, help="item-cache keys in Redis (default: 100000)")
    root.add_argument("--out", type=Path, required=True, help="where report.json and report.md go (empty, or a previous drill's)")
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.items < 1 or args.keys < 1:
        print("backup-drill: error: --items and --keys must be at least 1", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    drill = Drill()
    try:
        prepare_out(args.out)
    except DrillError as error:
        print(f"backup-drill: error: {error}", file=sys.stderr)
        return 2
    try:
        # The scratch directory outlives the servers in it: ExitStack stops them first.
        with tempfile.TemporaryDirectory(prefix="backup-drill-") as scratch, ExitStack() as servers:
            drill.log(f"scratch {scratch}; {args.items:,} items, {args.keys:,} keys")
            run(drill, args.items, args.keys, Path(scratch), servers)
            drill.log("stopping the servers")
    except DrillError as error:
        drill.report |= {"ok": False, "failed_step": error.step, "error": str(error)}
        print(f"backup-drill: FAILED at {error}", file=sys.stderr)
    except KeyboardInterrupt:
        drill.report |= {"ok": False, "failed_step": "interrupted", "error": "interrupted"}
        print("backup-drill: interrupted: the servers are stopped, the scratch directory removed", file=sys.stderr)
    drill.report["wall_seconds"] = round(time.monotonic() - drill.started, 1)
    table = write_report(args.out, drill.report)
    if drill.report["ok"]:
        print(table)
        drill.log(f"report in {args.out}/report.json and report.md ({drill.report['wall_seconds']:.0f} s)")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
