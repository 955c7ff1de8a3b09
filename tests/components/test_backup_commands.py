"""The backup CronJob's exact dump and restore commands, run for real against MariaDB.

The scripts come from components.backup_commands, the same functions the CronJob's spec is
built from; only host, port and paths differ from the cluster.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.backup_commands import backup_script, prune_command, restore_command
from components.mysql_client import client_option_file
from testservers import MariaDB, mariadb_server

DATABASE = "app"
# A quote and a backslash: the option file's escaping is exercised, not just the happy path.
PASSWORD = 'dump-"pass\\word'
RETENTION_DAYS = 7
DAY = 86400


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    with mariadb_server(tmp_path_factory.mktemp("mariadb")) as running:
        sql_password = PASSWORD.replace("\\", "\\\\").replace("'", "\\'")
        running.sql(f"CREATE USER 'backup'@'127.0.0.1' IDENTIFIED BY '{sql_password}'; GRANT ALL ON *.* TO 'backup'@'127.0.0.1'")
        yield running


@pytest.fixture
def database(server: MariaDB) -> Iterator[str]:
    server.sql(f"DROP DATABASE IF EXISTS {DATABASE}; CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4")
    server.sql(
        "CREATE TABLE items (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(100) NOT NULL, body BLOB,"
        " created DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6));"
        "CREATE TABLE audit (item_id INT NOT NULL);"
        "CREATE TRIGGER items_audit AFTER INSERT ON items FOR EACH ROW INSERT INTO audit VALUES (NEW.id);"
        "INSERT INTO items (name, body) VALUES ('plain', NULL), ('émoji 🚀 utf8mb4', 0x00FF10), ('quote '' and \\\\ backslash', '');",
        DATABASE,
    )
    yield DATABASE
    server.sql(f"DROP DATABASE IF EXISTS {DATABASE}")


def _option_file(tmp_path: Path, password: str = PASSWORD) -> Path:
    path = tmp_path / "client.cnf"
    path.write_text(client_option_file(password, user="backup"))
    path.chmod(0o600)
    return path


def _bash(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120, check=False)


def _backup(server: MariaDB, option_file: Path, directory: Path, database: str = DATABASE) -> subprocess.CompletedProcess[str]:
    return _bash(
        backup_script(
            defaults_file=str(option_file),
            host="127.0.0.1",
            port=server.port,
            database=database,
            directory=str(directory),
            retention_days=RETENTION_DAYS,
        )
    )


def _rows(server: MariaDB, database: str) -> list[str]:
    return server.sql("SELECT id, name, HEX(body), created FROM items ORDER BY id", database).splitlines()


def _aged(path: Path, seconds: float) -> Path:
    path.write_bytes(b"old dump")
    moment = time.time() - seconds
    os.utime(path, (moment, moment))
    return path


def test_dump_restores_into_a_fresh_database_with_the_same_rows(server: MariaDB, database: str, tmp_path: Path) -> None:
    option_file = _option_file(tmp_path)
    backups = tmp_path / "backups"
    backups.mkdir()

    dumped = _backup(server, option_file, backups)

    assert dumped.returncode == 0, dumped.stderr
    (dump,) = backups.glob(f"{database}-*.sql.gz")
    assert not list(backups.glob(".*.partial"))
    restored = _bash(
        restore_command(defaults_file=str(option_file), host="127.0.0.1", port=server.port, database="app_restored", dump_file=str(dump))
    )
    assert restored.returncode == 0, restored.stderr
    try:
        assert len(_rows(server, "app_restored")) == 3
        assert _rows(server, "app_restored") == _rows(server, database)
        # Triggers travel with the dump (--triggers), and did not fire again on restore.
        assert server.sql("SHOW TRIGGERS", "app_restored").split("\t")[0] == "items_audit"
        assert server.sql("SELECT COUNT(*) FROM audit", "app_restored").strip() == "3"
    finally:
        server.sql("DROP DATABASE IF EXISTS app_restored")


def test_commands_carry_no_password() -> None:
    script = backup_script(defaults_file="/x/client.cnf", host="h", port=1, database=DATABASE, directory="/b", retention_days=1)
    restore = restore_command(defaults_file="/x/client.cnf", host="h", port=1, database=DATABASE, dump_file="/b/d.sql.gz")
    assert "password" not in script.lower()
    assert "password" not in restore.lower()


def test_failed_dump_leaves_no_complete_file_and_prunes_nothing(server: MariaDB, database: str, tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    old = _aged(backups / f"{database}-20000101T000000Z.sql.gz", (RETENTION_DAYS + 30) * DAY)

    failed = _backup(server, _option_file(tmp_path, password="wrong"), backups)

    assert failed.returncode != 0
    assert [path.name for path in backups.glob("*.sql.gz")] == [old.name], "a failed run must not prune the last good dumps"


def test_prune_deletes_this_databases_dumps_past_retention_and_keeps_the_rest(tmp_path: Path) -> None:
    expired = _aged(tmp_path / "app-20240101T030000Z.sql.gz", RETENTION_DAYS * DAY + 3600)
    recent = _aged(tmp_path / "app-20240105T030000Z.sql.gz", RETENTION_DAYS * DAY - 3600)
    other_database = _aged(tmp_path / "billing-20240101T030000Z.sql.gz", 100 * DAY)
    stale_partial = _aged(tmp_path / ".app-20240101T030000Z.partial", 2 * DAY)
    running_partial = _aged(tmp_path / ".app-20240109T030000Z.partial", 60)

    pruned = _bash(prune_command(database=DATABASE, directory=str(tmp_path), retention_days=RETENTION_DAYS))

    assert pruned.returncode == 0, pruned.stderr
    assert not expired.exists()
    assert not stale_partial.exists()
    assert recent.exists()
    assert other_database.exists()
    assert running_partial.exists()
