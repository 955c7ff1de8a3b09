"""The backup job's shell commands: a consistent dump, pruning, and the restore that reads it back.

Written once: the CronJob runs `backup_script(...)` and tests/components/test_backup_commands.py
runs the very same text against a real MariaDB server.
"""

from __future__ import annotations

import shlex


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
