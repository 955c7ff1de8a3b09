"""The backup/restore drill: back up real servers as the CronJobs do, restore them with the
operator's tool into servers that never held the data, check every row and key, and report.

    python -m recovery.drill [--items N] [--keys M] --out DIR        (make backup-drill)

Everything runs on 127.0.0.1 in a scratch directory the drill removes: a MariaDB holding the app's
`items` table (N rows), a Redis holding the app's item cache (M keys of service:v1:item:<id>, with
a TTL; append-only as Pulumi.prod.yaml runs it), SeaweedFS's S3 gateway with a bucket, and a
restic repository there whose password and S3 secret key are files, as the pods mount them.

- Backups: the CronJobs' own scripts (components/data/backup/commands.py): the dump or snapshot into a
  directory (the pod's emptyDir), then the restic script in busybox's sh with only busybox and
  restic on PATH; the retention and job budget come from Pulumi.prod.yaml. Each server is backed up
  twice, the second time unchanged, to show what deduplication leaves to upload.
- Restores: `python -m recovery.restore`, as an operator runs it, into fresh servers; then every row
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
import signal
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import Any

from components.data.mysql_client import client_option_file
from recovery.drill.report import prepare_out, write_report
from recovery.drill.rig import DATABASE, REPOSITORY_PATH, Drill, DrillError, Rig, Sources, new_directory, running
from recovery.drill.steps import (
    back_up,
    committed_config,
    recovery_points,
    restore_mysql,
    restore_redis,
    verify_mysql,
    verify_redis,
    versions,
)
from testservers import MariaDB, RedisServer
from testservers.app_data import fill_item_cache, insert_items, migrate_app_schema
from testservers.backup import s3_repository
from testservers.restic import PodShell, restic_binary
from testservers.s3 import s3_server, seaweedfs_binary

SETTINGS_STACK = "prod"  # whose retention, job budget and Redis persistence the drill runs with
# Longer than the drill: a key that expired mid-drill would differ for a reason that is not the backup.
CACHE_TTL_SECONDS = 3600


def set_up(drill: Drill, scratch: Path, servers: ExitStack) -> tuple[Rig, bool]:
    """The S3 server, the repository's files and the pod's shell; and whether Redis runs append-only."""
    with drill.step("read the committed stacks"):
        settings = committed_config(SETTINGS_STACK)
        retention = settings.backup.retention
        append_only = settings.redis.append_only
        drill.report["settings"] = {"stack": SETTINGS_STACK, "retention": retention.model_dump(), "redis_append_only": append_only}

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
        db = servers.enter_context(running(MariaDB(new_directory(rig.scratch, "mysql-source"))))
        migrate_app_schema(db, DATABASE)
        _, drill.report["load_seconds_mysql"] = drill.timed(lambda: insert_items(db, DATABASE, items))
    with drill.step(f"load {keys:,} item-cache keys into a new Redis (appendonly {'yes' if append_only else 'no'})"):
        cache = servers.enter_context(running(RedisServer(new_directory(rig.scratch, "redis-source"), append_only=append_only)))
        _, drill.report["load_seconds_redis"] = drill.timed(lambda: fill_item_cache(cache, keys, ttl_seconds=CACHE_TTL_SECONDS))
    return Sources(
        db,
        cache,
        rig.private_file("client.cnf", client_option_file(db.password, user=db.user)),
        rig.private_file("redis-password", cache.password),
    )


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
        restored_db, provision = drill.timed(lambda: servers.enter_context(running(MariaDB(new_directory(scratch, "mysql-restored")))))
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
    except ValueError as error:
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
