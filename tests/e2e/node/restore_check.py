"""Restore the stack's newest backups, as an operator does, into servers that never held the data,
and print what they hold (JSON on stdout). Run inside the node's network namespace, where the
repository is reachable (the S3 server listens on the node's address there):

    scripts/node/exec.sh RUN_DIR python -m tests.e2e.node.restore_check --restic RESTIC --host STACK --work DIR
        (the repository in RESTIC_REPOSITORY / RESTIC_PASSWORD_FILE and, for S3, AWS_* as restic takes them)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from testservers import mariadb_server, redis_server
from testservers.app_data import ITEM_KEY_PREFIX

RESTORED_DATABASE = "app_restored"


def restore(restic: str, host: str, work: Path, servers: list[str]) -> dict[str, object]:
    """Each of `servers` (mysql, redis: those the stack backs up) restored from its newest snapshot."""
    restore_tool = [sys.executable, "-m", "recovery.restore", "--restic", restic]
    found: dict[str, object] = {}
    if "mysql" in servers:
        found["items"] = _restore_mysql(restore_tool, host, work)
    if "redis" in servers:
        found["item_cache_keys"] = _restore_redis(restore_tool, host, work)
    return found


def _restore_mysql(restore_tool: list[str], host: str, work: Path) -> list[list[object]]:
    with mariadb_server(work / "mysql") as mysql:
        mysql.setup_user()
        password_file = work / "mysql-password"
        password_file.write_text(mysql.password)
        password_file.chmod(0o600)
        subprocess.run(
            [*restore_tool, "mysql", "--host", host, "--mysql-host", "127.0.0.1", "--mysql-port", str(mysql.port),
             "--mysql-user", mysql.user, "--mysql-password-file", str(password_file), "--database", RESTORED_DATABASE],
            check=True, timeout=600,
        )  # fmt: skip
        rows = [line.split("\t", 1) for line in mysql.sql("SELECT id, name FROM items ORDER BY id", RESTORED_DATABASE).splitlines()]
    return [[int(item_id), name] for item_id, name in rows]


def _restore_redis(restore_tool: list[str], host: str, work: Path) -> list[str]:
    data_dir = work / "redis"
    subprocess.run([*restore_tool, "redis", "--host", host, "--data-dir", str(data_dir)], check=True, timeout=600)
    with redis_server(data_dir) as redis:
        return sorted(key.decode() for key in redis.keyspace() if key.startswith(ITEM_KEY_PREFIX.encode()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--restic", required=True)
    parser.add_argument("--host", required=True, help="the stack's name: restic's --host of its snapshots")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--servers", default="mysql,redis", help="the backed-up servers to restore (comma-separated)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print(json.dumps(restore(args.restic, args.host, args.work, args.servers.split(","))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
