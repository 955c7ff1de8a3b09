"""The backup jobs' scripts, run for real: MariaDB, Redis, restic at the pods' version, an S3 server.

(One file over 300 lines on purpose: every test here shares one module-scoped set of real servers,
an S3 server, two MariaDB and restic, which a split would start once per file.)

The scripts come from components.data.backup.commands, the functions the CronJobs are built from; only
hosts, ports and paths differ from the cluster. The restic script runs under busybox's sh with only
busybox and restic on PATH and a clean environment, as in the restic image. Restores go through
`python -m recovery.restore`, the operator's tool, into servers that never held the data.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from components.config import Retention
from components.config.model import RESTIC_IMAGE
from components.data.backup.commands import ResticTarget, mysql_dump_script, redis_snapshot_script, restic_backup_script
from components.data.mysql_client import client_option_file
from offline.paths import PROJECT_ROOT
from testservers import MariaDB, RedisServer, free_port, mariadb_server, redis_server
from testservers.app_data import fill_item_cache, insert_items, item_rows, migrate_app_schema
from testservers.backup import Repository, dump_mysql, restic_summary, run_restic_backup, run_restore, s3_repository, snapshot_redis
from testservers.restic import PodShell, restic_binary
from testservers.s3 import S3Server, s3_server, seaweedfs_binary

BACKUP_SCRIPTS = PROJECT_ROOT / "scripts" / "backup"
DATABASE = "app"
# A quote and a backslash: the client option file's escaping is exercised, not just the happy path.
MYSQL_PASSWORD = 'dump-"pass\\word'
REPOSITORY_PASSWORD = "repository pass with spaces, 'quotes' and $dollars"
RETENTION = Retention(daily=7, weekly=4, monthly=6)
# After the INT that ends restic at the budget, the call is over within this (it removes its lock).
INTERRUPT_SECONDS = 10
KiB = 1024


@dataclass(frozen=True)
class Backups:
    """A test's backup rig: the pod's shell, restic, the module's repository, the pod's emptyDir."""

    shell: PodShell
    restic_binary: str
    repository: Repository
    work: Path  # the emptyDir the snapshot container hands the file over in
    scratch: Path  # the test's own files (option files, password files)

    def backup(
        self,
        source: Path,
        *,
        host: str,
        tag: str = "mysql",
        retention: Retention = RETENTION,
        timeout_seconds: int = 120,
        repository: Repository | None = None,
        initialise: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """The restic container's script, as the pod runs it."""
        repository = repository or self.repository
        done = run_restic_backup(
            self.shell,
            repository,
            source,
            work=self.work,
            tag=tag,
            host=host,
            retention=retention,
            timeout_seconds=timeout_seconds,
            initialise=initialise,
        )
        for secret in repository.secrets:
            assert secret not in done.stdout + done.stderr, "a secret reached the job's output"
        return done

    def restic(self, *args: str, repository: Repository | None = None) -> subprocess.CompletedProcess[str]:
        """restic as an operator runs it."""
        env = {**os.environ, **(repository or self.repository).env}
        return subprocess.run([self.restic_binary, *args], capture_output=True, text=True, env=env, timeout=120, check=False)

    def snapshots(self, *filters: str, repository: Repository | None = None) -> list[dict[str, Any]]:
        listed = self.restic("snapshots", "--json", *filters, repository=repository)
        assert listed.returncode == 0, listed.stderr
        snapshots: list[dict[str, Any]] = json.loads(listed.stdout)
        return snapshots

    def restore(self, *args: str, repository: Repository | None = None) -> subprocess.CompletedProcess[str]:
        """recovery/restore.py as an operator runs it."""
        return run_restore(self.restic_binary, repository or self.repository, *args)


def _summary(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """restic's JSON backup summary: the backup script's only line on stdout."""
    assert done.returncode == 0, done.stderr
    return restic_summary(done.stdout)


# --- fixtures: one S3 server, two MariaDB servers and restic for the module ---------------------


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    weed = seaweedfs_binary()
    with s3_server(tmp_path_factory.mktemp("s3"), weed) as server:
        yield server


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("secrets")


def _repository(s3: S3Server, secrets_dir: Path, path: str) -> Repository:
    return s3_repository(s3, secrets_dir, path, REPOSITORY_PASSWORD)


@pytest.fixture(scope="module")
def shared(s3: S3Server, secrets_dir: Path, restic: str) -> Repository:
    """The module's repository, initialised once (init costs ~3 s on this server). Like a stack's,
    every job writes to it: tests keep apart by `--host`. Tests about creating one use `fresh`."""
    repository = _repository(s3, secrets_dir, "shared")
    initialised = subprocess.run(
        [restic, "init"], capture_output=True, text=True, env={**os.environ, **repository.env}, timeout=60, check=False
    )
    assert initialised.returncode == 0, initialised.stderr
    return repository


@pytest.fixture
def fresh(s3: S3Server, secrets_dir: Path) -> Repository:
    """A repository that does not exist yet."""
    return _repository(s3, secrets_dir, f"fresh-{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module")
def restic() -> str:
    return restic_binary()


@pytest.fixture(scope="module")
def shell(restic: str, tmp_path_factory: pytest.TempPathFactory) -> PodShell:
    return PodShell(tmp_path_factory.mktemp("pod-bin"), restic)


@pytest.fixture
def backups(shell: PodShell, restic: str, shared: Repository, tmp_path: Path) -> Backups:
    work = tmp_path / "work"
    work.mkdir()
    return Backups(shell, restic, shared, work, tmp_path)


@pytest.fixture(scope="module")
def source_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    with mariadb_server(tmp_path_factory.mktemp("mariadb-source")) as server:
        sql_password = MYSQL_PASSWORD.replace("\\", "\\\\").replace("'", "\\'")
        server.sql(f"CREATE USER 'backup'@'127.0.0.1' IDENTIFIED BY '{sql_password}'; GRANT ALL ON *.* TO 'backup'@'127.0.0.1'")
        yield server


@pytest.fixture(scope="module")
def restore_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    """A second server: restores land where the data never was."""
    with mariadb_server(tmp_path_factory.mktemp("mariadb-restore")) as server:
        server.setup_user()
        yield server


@pytest.fixture
def database(source_db: MariaDB) -> Iterator[str]:
    source_db.create_database(DATABASE)
    yield DATABASE
    source_db.sql(f"DROP DATABASE IF EXISTS {DATABASE}")


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[RedisServer]:
    base = tmp_path / "redis-source"
    base.mkdir()
    with redis_server(base) as server:
        yield server


# --- data ---------------------------------------------------------------------------------------


def _load_items(server: MariaDB, database: str, rows: int, salt: str = "") -> None:
    """The app's `items` table (app/src/service/migrations) with `rows` generated rows, the awkward
    ones (utf8mb4, quotes, NULL), and a trigger, a routine and an event to travel with the dump."""
    migrate_app_schema(server, database)
    server.sql(
        "CREATE TABLE audit (item_id BIGINT NOT NULL);"
        "CREATE TRIGGER items_audit AFTER INSERT ON items FOR EACH ROW INSERT INTO audit VALUES (NEW.id);"
        "CREATE FUNCTION stock() RETURNS BIGINT READS SQL DATA RETURN (SELECT SUM(quantity) FROM items);"
        "CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit;"
        "INSERT INTO items (name, description, quantity, created_at, updated_at) VALUES"
        " ('émoji 🚀 utf8mb4', NULL, 0, NOW(6), NOW(6)), ('quote '' and \\\\ backslash', '\\ttab\\nnewline', -1, NOW(6), NOW(6))",
        database,
    )
    insert_items(server, database, rows, salt)


def _schema(server: MariaDB, database: str) -> list[str]:
    return [
        server.sql("SHOW CREATE TABLE items", database),
        server.sql("SELECT COUNT(*) FROM audit", database),
        server.sql("SELECT trigger_name, action_statement FROM information_schema.triggers WHERE trigger_schema = DATABASE()", database),
        server.sql("SELECT routine_name, routine_definition FROM information_schema.routines WHERE routine_schema = DATABASE()", database),
        server.sql("SELECT event_name, event_definition, status FROM information_schema.events WHERE event_schema = DATABASE()", database),
    ]


def _fill_redis(server: RedisServer, keys: int, salt: str = "") -> None:
    """The app's item cache (JSON under service:v1:item:<id>, with a TTL), and every other type."""
    fill_item_cache(server, keys, salt=salt)
    with server.client() as client:
        client.pipeline(
            [
                ("HSET", "hash", "field", "value", "binary", b"\x00\xff\r\n"),
                ("RPUSH", "list", "b", "a", "b"),
                ("SADD", "set", "x", "y", "z"),
                ("ZADD", "zset", 1.5, "low", 1e6, "high"),
                ("XADD", "stream", "1-1", "event", "created"),
                ("SET", b"binary\x00key\r\n", b"\xff\xfe value"),
                ("SET", "persistent", "no expiry"),
                ("PEXPIREAT", "hash", 4102444800000),  # 2100-01-01: an absolute expiry travels as such
            ]
        )


# --- the snapshot containers' scripts, as the pods run them ----------------------------------------


def _option_file(directory: Path, password: str = MYSQL_PASSWORD) -> Path:
    path = directory / "client.cnf"
    path.write_text(client_option_file(password, user="backup"))
    path.chmod(0o600)
    return path


def _dump(server: MariaDB, option_file: Path, output: Path, database: str = DATABASE) -> subprocess.CompletedProcess[str]:
    done = dump_mysql(server.port, option_file, output, database)
    assert MYSQL_PASSWORD not in done.stdout + done.stderr
    return done


def _snapshot(server: RedisServer, password_file: Path, output: Path) -> subprocess.CompletedProcess[str]:
    """With the host's `sh`: dash, as in the Redis image (Debian)."""
    done = snapshot_redis(server.port, password_file, output)
    assert server.password not in done.stdout + done.stderr
    return done


def _password_file(directory: Path, password: str) -> Path:
    path = directory / f"password-{uuid.uuid4().hex[:8]}"
    path.write_text(password)
    return path


# --- restores ------------------------------------------------------------------------------------


def _restore_mysql(backups: Backups, server: MariaDB, host: str, database: str) -> subprocess.CompletedProcess[str]:
    return backups.restore(
        "mysql",
        f"--host={host}",
        "--mysql-host=127.0.0.1",
        f"--mysql-port={server.port}",
        f"--mysql-user={server.user}",
        f"--mysql-password-file={_password_file(backups.scratch, server.password)}",
        f"--database={database}",
    )


def test_mysql_backup_restores_row_for_row_into_a_fresh_server(
    source_db: MariaDB, restore_db: MariaDB, database: str, backups: Backups
) -> None:
    _load_items(source_db, database, rows=5000)
    dump = backups.work / "mysql.sql"

    dumped = _dump(source_db, _option_file(backups.scratch), dump)
    assert dumped.returncode == 0, dumped.stderr
    backed_up = _summary(backups.backup(dump, host="mysql-restore"))
    restored = _restore_mysql(backups, restore_db, "mysql-restore", "app_restored")

    assert restored.returncode == 0, restored.stderr
    assert backed_up["snapshot_id"][:8] in restored.stderr
    assert len(item_rows(restore_db, "app_restored")) == 5002
    assert item_rows(restore_db, "app_restored") == item_rows(source_db, database)
    # Triggers, routines and events travel with the dump, and the trigger did not fire again on restore.
    assert _schema(restore_db, "app_restored") == _schema(source_db, database)


def _volume_repository(backups: Backups) -> Repository:
    """The dev target: a repository on a path (the PVC), the same password, no S3."""
    path = str(backups.scratch / "volume" / "restic")
    shared = backups.repository
    env = {key: value for key, value in shared.env.items() if not key.startswith("AWS_")}
    return Repository(
        ResticTarget(path, shared.target.password_file, cache_dir=shared.target.cache_dir),
        {**env, "RESTIC_REPOSITORY": path},
        shared.secrets,
    )


@pytest.mark.parametrize(("target", "append_only"), [("s3", True), ("volume", False)], ids=["s3-appendonly", "volume-rdb"])
def test_redis_backup_restores_key_for_key_into_a_fresh_server(
    target: str, append_only: bool, cache: RedisServer, backups: Backups
) -> None:
    """Both targets, and both ways a server loads data at start: one with appendonly yes (the
    cluster's, when Redis is backed up) ignores a bare dump.rdb, which the restore accounts for."""
    repository = _volume_repository(backups) if target == "volume" else backups.repository
    _fill_redis(cache, keys=2000)
    snapshot = backups.work / "dump.rdb"

    taken = _snapshot(cache, _password_file(backups.scratch, cache.password), snapshot)
    assert taken.returncode == 0, taken.stderr
    _summary(backups.backup(snapshot, tag="redis", host=f"redis-{target}", repository=repository))
    data_dir = backups.scratch / "redis-restored"
    restored = backups.restore("redis", f"--host=redis-{target}", f"--data-dir={data_dir}", repository=repository)
    assert restored.returncode == 0, restored.stderr
    fresh_server = RedisServer(data_dir, append_only=append_only)
    fresh_server.start()
    try:
        assert fresh_server.keyspace() == cache.keyspace()
    finally:
        fresh_server.stop()


def test_restore_refuses_a_database_that_has_tables(source_db: MariaDB, restore_db: MariaDB, database: str, backups: Backups) -> None:
    _load_items(source_db, database, rows=10)
    assert _dump(source_db, _option_file(backups.scratch), backups.work / "mysql.sql").returncode == 0
    _summary(backups.backup(backups.work / "mysql.sql", host="mysql-refuse"))
    restore_db.create_database("occupied")
    restore_db.sql("CREATE TABLE keep (id INT); INSERT INTO keep VALUES (1)", "occupied")

    refused = _restore_mysql(backups, restore_db, "mysql-refuse", "occupied")

    assert refused.returncode == 2
    assert "already has 1 table(s)" in refused.stderr
    assert restore_db.sql("SELECT id FROM keep", "occupied").split() == ["1"]


# --- retention -----------------------------------------------------------------------------------

# Snapshot times chosen for Retention(daily=2, weekly=3, monthly=4). The script's own snapshot
# ("now") is the newest of its day, week and month, so it takes the first of each; then:
KEPT = {
    "2024-03-05 09:00:00": "daily: the newest of the 2nd day",
    "2024-02-20 03:00:00": "weekly: the newest of the 3rd week (2024-W08)",
    "2024-01-10 03:00:00": "monthly: the newest of the 4th month",
}
REMOVED = {
    "2024-03-05 03:00:00": "an older one of a kept day",
    "2024-03-04 03:00:00": "of the kept week 2024-W10",
    "2024-02-05 03:00:00": "of the kept month 2024-02, in a 4th week",
}


def test_retention_keeps_the_newest_snapshot_of_each_day_week_and_month(backups: Backups) -> None:
    source = backups.work / "mysql.sql"
    source.write_text(f"-- {uuid.uuid4()}\n")
    for moment in [*KEPT, *REMOVED]:
        made = backups.restic("backup", "--time", moment, "--tag", "mysql", "--host", "retention", str(source))
        assert made.returncode == 0, made.stderr
    # Outside this job's group: the other server's tag, another stack's host.
    for tag, host in (("redis", "retention"), ("mysql", "retention-other-stack")):
        made = backups.restic("backup", "--time", "2020-01-01 00:00:00", "--tag", tag, "--host", host, str(source))
        assert made.returncode == 0, made.stderr

    new = _summary(backups.backup(source, host="retention", retention=Retention(daily=2, weekly=3, monthly=4)))

    remaining = {
        snapshot["id"]: snapshot["time"][:19].replace("T", " ") for snapshot in backups.snapshots("--host=retention", "--tag=mysql")
    }
    assert new["snapshot_id"] in remaining
    assert set(remaining.values()) - {remaining[new["snapshot_id"]]} == set(KEPT)
    assert len(backups.snapshots("--host=retention", "--tag=redis")) == 1
    assert len(backups.snapshots("--host=retention-other-stack")) == 1


# --- what the repository holds ---------------------------------------------------------------------


def _files_holding(directory: Path, needle: bytes) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file() and needle in path.read_bytes()]


def _put_plain_object(s3: S3Server, key: str, body: bytes) -> None:
    """A plain object through the S3 API, with curl; the key pair goes in on stdin, not on argv."""
    put = subprocess.run(
        ["curl", "-sS", "--fail", "-K", "-", "-X", "PUT", "--aws-sigv4", f"aws:amz:{s3.region}:s3",
         # curl signs the payload's hash but does not send it; SeaweedFS needs it (scripts/s3/README.md).
         "-H", f"x-amz-content-sha256: {hashlib.sha256(body).hexdigest()}",
         "--data-binary", body.decode(), f"{s3.endpoint}/{s3.bucket}/{key}"],
        input=f'user = "{s3.access_key_id}:{s3.secret_access_key}"\n'.encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert put.returncode == 0, put.stderr


def test_repository_objects_hold_no_plaintext_of_rows_or_keys(
    source_db: MariaDB, database: str, cache: RedisServer, s3: S3Server, backups: Backups
) -> None:
    # Random hex: nothing for the RDB's LZF compression to shrink, so the snapshot holds it verbatim.
    canary = f"canary-{uuid.uuid4().hex}"
    _load_items(source_db, database, rows=100)
    source_db.sql(f"INSERT INTO items (name, quantity, created_at, updated_at) VALUES ('{canary}-row', 1, NOW(6), NOW(6))", database)  # noqa: S608 - hex
    with cache.client() as client:
        client.call("SET", f"{canary}-key", f"{canary}-value")
    assert _dump(source_db, _option_file(backups.scratch), backups.work / "mysql.sql").returncode == 0
    assert _snapshot(cache, _password_file(backups.scratch, cache.password), backups.work / "dump.rdb").returncode == 0
    for name, value in (("mysql.sql", f"{canary}-row"), ("dump.rdb", f"{canary}-key"), ("dump.rdb", f"{canary}-value")):
        assert value.encode() in (backups.work / name).read_bytes(), f"the control: {name} holds {value} in plaintext"

    _summary(backups.backup(backups.work / "mysql.sql", host="plaintext"))
    _summary(backups.backup(backups.work / "dump.rdb", tag="redis", host="plaintext"))

    assert _files_holding(s3.data_dir, canary.encode()) == [], "the S3 server's files hold a row or key in plaintext"
    # The control: the same search finds a plain object stored through the same API.
    _put_plain_object(s3, "control/plain.txt", f"a plain {canary}-row".encode())
    assert _files_holding(s3.data_dir, f"{canary}-row".encode()) != []


# --- failures --------------------------------------------------------------------------------------


def test_wrong_password_fails_clearly_and_never_initialises(backups: Backups) -> None:
    source = backups.work / "mysql.sql"
    source.write_text("-- Dump completed\n")
    shared = backups.repository
    wrong = replace(shared, target=replace(shared.target, password_file=str(_password_file(backups.scratch, "not the password"))))
    keys = backups.restic("list", "keys").stdout
    snapshots = {snapshot["id"] for snapshot in backups.snapshots()}

    started = time.monotonic()
    failed = backups.backup(source, host="wrong-password", repository=wrong)

    assert failed.returncode != 0
    assert time.monotonic() - started < 20
    assert "wrong password" in failed.stderr
    assert "initialising" not in failed.stderr
    assert backups.restic("list", "keys").stdout == keys
    assert {snapshot["id"] for snapshot in backups.snapshots()} == snapshots


def test_unreachable_endpoint_fails_clearly_within_a_bound(backups: Backups, fresh: Repository) -> None:
    source = backups.work / "mysql.sql"
    source.write_text("-- Dump completed\n")
    nowhere = replace(fresh, target=replace(fresh.target, repository=f"s3:http://127.0.0.1:{free_port()}/backups/x"))

    started = time.monotonic()
    failed = backups.backup(source, host="unreachable", timeout_seconds=60, repository=nowhere)

    # restic's S3 client retries a refused connection for ~13 s, then gives up.
    assert failed.returncode != 0
    assert time.monotonic() - started < 40
    assert "connection refused" in failed.stderr
    assert "FAILED: cannot open the repository" in failed.stderr
    assert "initialising" not in failed.stderr


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An endpoint that accepts connections and never answers: restic alone would wait on it forever."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for connection in held:
            connection.close()
        listener.close()


def test_an_endpoint_that_never_answers_is_cut_off_at_the_budget(backups: Backups, fresh: Repository, silent_endpoint: str) -> None:
    source = backups.work / "mysql.sql"
    source.write_text("-- Dump completed\n")
    silent = replace(fresh, target=replace(fresh.target, repository=f"s3:{silent_endpoint}/backups/x"))

    started = time.monotonic()
    failed = backups.backup(source, host="silent", timeout_seconds=4, repository=silent)

    assert failed.returncode != 0
    assert time.monotonic() - started < 4 + INTERRUPT_SECONDS
    assert "timed out: restic's budget is 4 s" in failed.stderr


def _assert_nothing_backed_up(backups: Backups, output: Path, repository: Repository) -> None:
    assert list(backups.work.iterdir()) == [], "neither a complete nor a partial file stays behind"
    backed_up = backups.backup(output, host="failed", repository=repository)
    assert backed_up.returncode != 0
    assert f"no snapshot at {output}" in backed_up.stderr
    # Nothing was written: the repository was not even created.
    assert backups.restic("cat", "config", repository=repository).returncode == 10


@pytest.mark.parametrize("failure", ["view-breaks-mid-dump", "wrong-password"])
def test_failed_dump_leaves_no_file_and_backs_up_nothing(
    failure: str, source_db: MariaDB, database: str, backups: Backups, fresh: Repository
) -> None:
    output = backups.work / "mysql.sql"
    if failure == "view-breaks-mid-dump":
        # mysqldump writes the tables' rows, then fails on the view: a partial file existed.
        _load_items(source_db, database, rows=1000)
        source_db.sql("CREATE TABLE gone (x INT); CREATE VIEW broken AS SELECT x FROM gone; DROP TABLE gone", database)
        failed = _dump(source_db, _option_file(backups.scratch), output)
    else:
        failed = _dump(source_db, _option_file(backups.scratch, "not the password"), output)

    assert failed.returncode != 0
    _assert_nothing_backed_up(backups, output, fresh)


def test_failed_redis_snapshot_leaves_no_file_and_backs_up_nothing(cache: RedisServer, backups: Backups, fresh: Repository) -> None:
    output = backups.work / "dump.rdb"

    failed = _snapshot(cache, _password_file(backups.scratch, "not the password"), output)

    assert failed.returncode != 0
    assert "WRONGPASS" in failed.stderr
    _assert_nothing_backed_up(backups, output, fresh)


def test_only_the_initialising_job_creates_the_repository(backups: Backups, fresh: Repository) -> None:
    """Two `restic init` at once leave a repository that no longer opens, so one job creates it;
    another job finding none fails (its Job retries) and creates nothing."""
    source = backups.work / "snapshot"
    source.write_text(f"{uuid.uuid4()}\n")

    early = backups.backup(source, tag="redis", host="first-use", repository=fresh, initialise=False)
    assert early.returncode != 0
    assert "another backup job creates it" in early.stderr
    assert backups.restic("cat", "config", repository=fresh).returncode == 10
    _summary(backups.backup(source, tag="mysql", host="first-use", repository=fresh, initialise=True))
    _summary(backups.backup(source, tag="redis", host="first-use", repository=fresh, initialise=False))

    assert sorted(tag for snapshot in backups.snapshots(repository=fresh) for tag in snapshot["tags"]) == ["mysql", "redis"]


# --- deduplication ---------------------------------------------------------------------------------


def test_second_mysql_backup_of_unchanged_data_adds_almost_nothing(source_db: MariaDB, database: str, backups: Backups) -> None:
    _load_items(source_db, database, rows=20000, salt=uuid.uuid4().hex)
    option_file = _option_file(backups.scratch)
    added = []
    for _ in range(2):
        assert _dump(source_db, option_file, backups.work / "mysql.sql").returncode == 0
        added.append(_summary(backups.backup(backups.work / "mysql.sql", host="dedup-mysql"))["data_added"])

    first, second = added
    assert first > (backups.work / "mysql.sql").stat().st_size // 2
    # A byte-identical dump (no gzip, no dump date): only the new snapshot's tree metadata.
    assert second < 16 * KiB, added


def test_second_redis_backup_of_unchanged_data_adds_only_its_first_and_last_chunks(cache: RedisServer, backups: Backups) -> None:
    _fill_redis(cache, keys=200_000, salt=uuid.uuid4().hex)
    password_file = _password_file(backups.scratch, cache.password)
    added = []
    for _ in range(2):
        assert _snapshot(cache, password_file, backups.work / "dump.rdb").returncode == 0
        added.append(_summary(backups.backup(backups.work / "dump.rdb", tag="redis", host="dedup-redis"))["data_added"])

    first, second = added
    assert first > (backups.work / "dump.rdb").stat().st_size // 2
    # Every RDB opens with its creation time and memory use and closes with a CRC64 of the whole
    # file, so its first and last chunks (restic's content-defined chunks average 1 MiB) are new
    # each time; everything between deduplicates.
    assert second < first // 4, added


# --- the scripts as text ---------------------------------------------------------------------------

S3_TARGET = ResticTarget(
    repository="s3:https://s3.eu-central-1.amazonaws.com/bucket/stack",
    password_file="/etc/restic/repository-password",
    s3_access_key_id="AKIAEXAMPLE",
    s3_secret_key_file="/etc/restic/s3-secret-key",
    s3_region="eu-central-1",
)
VOLUME_TARGET = ResticTarget(repository="/backups/restic", password_file="/etc/restic/repository-password")


def _restic_script(**changes: Any) -> str:
    arguments: dict[str, Any] = {
        "target": VOLUME_TARGET,
        "source": "/work/mysql.sql",
        "tag": "mysql",
        "hostname": "dev",
        "retention": RETENTION,
        "timeout_seconds": 600,
    }
    return restic_backup_script(**(arguments | changes))


SCRIPTS = {
    "mysql-dump": (
        "bash",
        mysql_dump_script(defaults_file="/etc/mysql/secrets/client.cnf", host="mysql", port=3306, database="app", output="/work/mysql.sql"),
    ),
    "redis-snapshot": (
        "sh",
        redis_snapshot_script(password_file="/etc/redis/secret/password", host="redis", port=6379, output="/work/dump.rdb"),
    ),
    "restic-s3": ("sh", _restic_script(target=S3_TARGET)),
    "restic-volume": ("sh", _restic_script(source="/work/dump.rdb", tag="redis", initialise=False)),
}


@pytest.mark.parametrize("name", [*SCRIPTS, "build-restic.sh"])
def test_scripts_pass_shellcheck(name: str, tmp_path: Path) -> None:
    checker = shutil.which("shellcheck")
    if checker is None:
        pytest.skip("shellcheck not installed (Debian: apt-get install shellcheck)")
    if name in SCRIPTS:
        dialect, script = SCRIPTS[name]
        path = tmp_path / f"{name}.sh"
        path.write_text(script)
        command = [checker, "-s", dialect, str(path)]
    else:
        command = [checker, "-x", name]
    checked = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, cwd=BACKUP_SCRIPTS)
    assert checked.returncode == 0, checked.stdout


def test_restic_of_the_tests_is_the_backup_pods() -> None:
    pinned = re.search(r"^RESTIC_VERSION=(\S+)$", (BACKUP_SCRIPTS / "versions.env").read_text(), re.MULTILINE)
    assert pinned is not None
    assert RESTIC_IMAGE.split("@")[0].endswith(f":{pinned.group(1)}"), "scripts/backup/versions.env must follow RESTIC_IMAGE"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tag": "mysql,redis"}, "tag must be"),
        ({"hostname": ""}, "hostname must be"),
        ({"timeout_seconds": 0}, "timeout_seconds must be positive"),
        ({"target": replace(S3_TARGET, s3_secret_key_file=None)}, "needs s3_access_key_id and s3_secret_key_file"),
        ({"target": replace(VOLUME_TARGET, s3_region="eu-central-1")}, "not on S3"),
    ],
)
def test_restic_script_refuses_bad_arguments(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _restic_script(**changes)


def test_dump_script_refuses_a_database_name_that_is_not_plain() -> None:
    with pytest.raises(ValueError, match="not a plain database name"):
        mysql_dump_script(defaults_file="/c", host="h", port=1, database="app; DROP", output="/w")
