"""Restore the backup jobs' snapshots from the stack's restic repository into fresh servers.

    python -m recovery.restore list  [--tag mysql|redis] [--host STACK]
    python -m recovery.restore mysql [--snapshot latest|ID] --mysql-host H --mysql-port P --mysql-user U
                                    [--mysql-password-file F] --database DB [--replace]
    python -m recovery.restore redis [--snapshot latest|ID] --data-dir DIR [--replace]

The repository is named and opened the way restic takes it: RESTIC_REPOSITORY or -r,
RESTIC_PASSWORD_FILE or --password-file, and for S3 AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
in the environment (-o passes restic options, e.g. -o s3.region=eu-central-1). Progress and
restic's own messages go to stderr. See recovery/README.md for the in-cluster procedure.

- mysql: streams `restic dump` of the SQL dump into the `mysql` client (no copy on disk), into
  DATABASE, which must be new or empty (--replace drops it first). The password comes from
  --mysql-password-file or a prompt; the client reads it from a private option file.
- redis: Redis loads a snapshot only at start. This writes it into DIR, for a server not yet
  started, both as DIR/dump.rdb and as DIR/appendonlydir (the RDB as the base of a one-file
  append-only log): a server with `appendonly yes` ignores dump.rdb, and would start empty.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from components.data.mysql_client import client_option_file
from recovery.restic import DEFAULT_TIMEOUT_SECONDS, TAGS, Restic, RestoreError, Snapshot, explain_restic_exit, log, run_bounded, stop

_DATABASE = re.compile(r"\w{1,64}")
# Redis's multi-part append-only layout (7.0+) with the default appenddirname/appendfilename.
AOF_DIR = "appendonlydir"
AOF_BASE = "appendonly.aof.1.base.rdb"
AOF_MANIFEST = "appendonly.aof.manifest"


def list_snapshots(restic: Restic, tag: str | None, host: str | None) -> None:
    snapshots = restic.snapshots(tag, host)
    print(f"{'ID':<10} {'TIME (UTC)':<20} {'HOST':<16} {'TAGS':<12} {'SIZE':>12}  FILE")
    for snapshot in snapshots:
        when = datetime.fromisoformat(snapshot.time).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        size = "" if snapshot.size is None else f"{snapshot.size:,}"
        print(
            f"{snapshot.id[:8]:<10} {when:<20} {snapshot.hostname:<16} {','.join(snapshot.tags):<12} {size:>12}  {' '.join(snapshot.paths)}"
        )
    log(f"{len(snapshots)} snapshot(s)" + (f" tagged {tag}" if tag else ""))


@dataclass(frozen=True)
class MySqlTarget:
    client: str
    host: str
    port: int
    user: str
    database: str

    def command(self, option_file: Path, *args: str) -> list[str]:
        # --defaults-extra-file must come first; --protocol=TCP even for "localhost" (a port-forward).
        return [
            self.client,
            f"--defaults-extra-file={option_file}",
            "--protocol=TCP",
            f"--host={self.host}",
            f"--port={self.port}",
            f"--user={self.user}",
            "--default-character-set=utf8mb4",
            *args,
        ]


def restore_mysql(restic: Restic, snapshot: Snapshot, target: MySqlTarget, password: str, *, replace: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="restore-mysql-") as private:
        option_file = Path(private) / "client.cnf"
        option_file.write_text(client_option_file(password, user=target.user))
        option_file.chmod(0o600)

        def query(sql: str) -> str:
            done = run_bounded(
                target.command(option_file, "--batch", "--skip-column-names", f"--execute={sql}"), timeout=120, stdout=subprocess.PIPE
            )
            if done.returncode != 0:
                raise RestoreError(f"cannot run SQL on {target.host}:{target.port} as {target.user} (the client's message is above)")
            return done.stdout.decode()

        def tables() -> int:
            # The name is a plain identifier (checked in main): safe inside quotes and backticks.
            return int(query(f"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{target.database}'").strip())  # noqa: S608

        existing = tables()
        if existing and not replace:
            raise RestoreError(
                f"database {target.database} at {target.host}:{target.port} already has {existing} table(s): restore into a new"
                " database (then switch the app to it), or pass --replace to drop it first",
                2,
            )
        if replace:
            log(f"dropping database {target.database} (--replace)")
            query(f"DROP DATABASE IF EXISTS `{target.database}`")
        query(f"CREATE DATABASE IF NOT EXISTS `{target.database}` CHARACTER SET utf8mb4")

        log(f"loading snapshot {snapshot.id[:8]} ({snapshot.time}, {snapshot.file}) into {target.database} at {target.host}:{target.port}")
        started = time.monotonic()
        pipeline(
            restic.command("dump", snapshot.id, snapshot.file),
            target.command(option_file, target.database),
            timeout=restic.timeout,
        )
        log(f"mysql: {tables()} table(s) restored into {target.database} in {time.monotonic() - started:.1f} s")


def pipeline(producer: list[str], consumer: list[str], *, timeout: float) -> None:
    """producer | consumer, both bounded by `timeout`; fails if either fails (pipefail)."""
    deadline = time.monotonic() + timeout
    with subprocess.Popen(producer, stdout=subprocess.PIPE) as source:
        assert source.stdout is not None
        with subprocess.Popen(consumer, stdin=source.stdout) as sink:
            source.stdout.close()  # the consumer holds the pipe; a consumer that dies stops the producer
            for process in (sink, source):
                try:
                    process.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    stop(source)
                    stop(sink)
                    raise RestoreError(f"the restore did not finish within {timeout:.0f} s") from None
    if sink.returncode != 0:
        raise RestoreError(f"{Path(consumer[0]).name} failed (exit {sink.returncode}; its message is above): the database is incomplete")
    if source.returncode != 0:
        raise RestoreError(f"restic dump failed: {explain_restic_exit(source.returncode)}; the database is incomplete")


def read_password(path: Path | None) -> str:
    if path is not None:
        return path.read_text().rstrip("\n")
    if not sys.stdin.isatty():
        raise RestoreError("no MySQL password: pass --mysql-password-file, or run in a terminal to be asked", 2)
    return getpass.getpass("MySQL password: ")


def restore_redis(restic: Restic, snapshot: Snapshot, data_dir: Path, *, replace: bool) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    rdb, aof = data_dir / "dump.rdb", data_dir / AOF_DIR
    present = [path for path in (rdb, aof) if path.exists()]
    if present and not replace:
        raise RestoreError(
            f"{', '.join(str(path) for path in present)} exist(s): restore into an empty data directory of a stopped server,"
            " or pass --replace to move them aside",
            2,
        )
    if present:
        aside = data_dir / f"before-restore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        aside.mkdir()
        for path in present:
            path.rename(aside / path.name)
        log(f"moved {', '.join(path.name for path in present)} to {aside}")

    log(f"writing snapshot {snapshot.id[:8]} ({snapshot.time}, {snapshot.file}) to {rdb}")
    started = time.monotonic()
    partial = data_dir / ".dump.rdb.restoring"
    try:
        with partial.open("wb") as output:
            done = run_bounded(restic.command("dump", snapshot.id, snapshot.file), timeout=restic.timeout, stdout=output)
        if done.returncode != 0:
            raise RestoreError(f"restic dump failed: {explain_restic_exit(done.returncode)}")
        check_rdb(partial)
        partial.replace(rdb)
    finally:
        partial.unlink(missing_ok=True)
    # The same RDB as the base of a one-file append-only log, for a server with appendonly yes.
    aof.mkdir()
    try:
        os.link(rdb, aof / AOF_BASE)
    except OSError:
        shutil.copyfile(rdb, aof / AOF_BASE)
    (aof / AOF_MANIFEST).write_text(f"file {AOF_BASE} seq 1 type b\n")
    seconds = time.monotonic() - started
    log(f"redis: {rdb.stat().st_size:,} bytes in dump.rdb and {AOF_DIR}/ in {seconds:.1f} s: start the server on {data_dir}")


def check_rdb(path: Path) -> None:
    with path.open("rb") as snapshot:
        if snapshot.read(5) != b"REDIS":
            raise RestoreError(f"the snapshot written to {path} is not an RDB file")
    checker = shutil.which("redis-check-rdb")
    if checker is None:
        log("redis-check-rdb not found: checked the RDB header only")
        return
    done = subprocess.run([checker, str(path)], capture_output=True, text=True, timeout=DEFAULT_TIMEOUT_SECONDS, check=False)
    if done.returncode != 0:
        raise RestoreError(f"redis-check-rdb rejects the snapshot:\n{done.stdout[-800:]}{done.stderr[-400:]}")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root.add_argument("-r", "--repo", help="the repository (default: $RESTIC_REPOSITORY)")
    root.add_argument("--password-file", type=Path, help="the repository password's file (default: $RESTIC_PASSWORD_FILE)")
    root.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE", help="a restic option (s3.region=...)")
    root.add_argument("--no-lock", action="store_true", help="read without locking the repository (read-only credentials)")
    root.add_argument("--restic", default="restic", help="the restic binary (default: restic on PATH; 0.14 or later)")
    root.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="seconds allowed to each restic call and to the load")
    commands = root.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="list snapshots, oldest first")
    listing.add_argument("--tag", choices=TAGS)
    listing.add_argument("--host", help="only snapshots of this host (the stack's name)")

    mysql = commands.add_parser("mysql", help="load a MySQL snapshot into a new database")
    mysql.add_argument("--snapshot", default="latest", help="latest (default) or a snapshot id")
    mysql.add_argument("--host", help="the snapshots' host (the stack's name); needed when several stacks share the repository")
    mysql.add_argument("--mysql-host", required=True)
    mysql.add_argument("--mysql-port", type=int, default=3306)
    mysql.add_argument("--mysql-user", required=True)
    mysql.add_argument("--mysql-password-file", type=Path, help="a file holding the password (default: ask)")
    mysql.add_argument("--mysql-client", default=None, help="the client binary (default: mysql, else mariadb, on PATH)")
    mysql.add_argument("--database", required=True, help="the database to create and load")
    mysql.add_argument("--replace", action="store_true", help="drop DATABASE first if it exists")

    redis = commands.add_parser("redis", help="write a Redis snapshot into the data directory of a server not yet started")
    redis.add_argument("--snapshot", default="latest", help="latest (default) or a snapshot id")
    redis.add_argument("--host", help="the snapshots' host (the stack's name); needed when several stacks share the repository")
    redis.add_argument("--data-dir", type=Path, required=True, help="the server's `dir` (created if missing)")
    redis.add_argument("--replace", action="store_true", help="move an existing dump.rdb / appendonlydir aside first")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    options = [f"--repo={args.repo}"] if args.repo else []
    if not args.repo and not os.environ.get("RESTIC_REPOSITORY"):
        log("error: no repository: set RESTIC_REPOSITORY or pass -r")
        return 2
    if args.password_file:
        options.append(f"--password-file={args.password_file}")
    options += [f"--option={option}" for option in args.option]
    if args.no_lock:
        options.append("--no-lock")
    restic = Restic(args.restic, options, args.timeout)
    try:
        if args.command == "list":
            list_snapshots(restic, args.tag, args.host)
        elif args.command == "mysql":
            if not _DATABASE.fullmatch(args.database):
                raise RestoreError(f"not a plain database name: {args.database!r}", 2)
            client = args.mysql_client or shutil.which("mysql") or shutil.which("mariadb")
            if client is None:
                raise RestoreError("no mysql client on PATH (Debian: apt-get install default-mysql-client)", 2)
            password = read_password(args.mysql_password_file)
            target = MySqlTarget(client, args.mysql_host, args.mysql_port, args.mysql_user, args.database)
            restore_mysql(restic, restic.resolve(args.snapshot, "mysql", args.host), target, password, replace=args.replace)
        else:
            restore_redis(restic, restic.resolve(args.snapshot, "redis", args.host), args.data_dir, replace=args.replace)
    except RestoreError as error:
        log(f"error: {error}")
        return error.exit_code
    except FileNotFoundError as error:
        log(f"error: {error.strerror}: {error.filename}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
