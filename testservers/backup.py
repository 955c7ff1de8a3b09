"""What the backup tests and the backup drill run besides MariaDB and Redis: a real S3 server,
restic at the backup pods' version, and a shell like the restic image's.

    weed = seaweedfs_binary()                    # scripts/s3/build.sh (cached)
    with s3_server(tmp_path / "s3", weed) as s3: # SeaweedFS's S3 gateway on 127.0.0.1
        s3.repository("stack-a")                 # "s3:http://127.0.0.1:PORT/backups/stack-a"
    restic = restic_binary()                     # scripts/backup/build-restic.sh (cached)
    shell = PodShell(tmp_path / "bin", restic)   # busybox's sh and applets, and restic: nothing else
    shell.run(script, env={...})

And the backup jobs' steps as the pods run them (`dump_mysql`, `snapshot_redis`,
`run_restic_backup`), the operator's restore tool (`run_restore`), and the app's data to back up
(`ITEMS_TABLE`, `insert_items`, `fill_item_cache`): shared by tests/components/test_backup_commands.py
and scripts/backup/drill.py, so the drill measures exactly what the tests prove.

Each function raises MissingBinaryError when its tool cannot be found or built; `require` turns
that into a skipped test (a failed one with CI=true), as the MariaDB and Redis launchers do.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from components.backup_commands import ResticTarget, Retention, mysql_dump_script, redis_snapshot_script, restic_backup_script
from testservers import MariaDB, MissingBinaryError, RedisServer, find_binary

__all__ = [
    "ITEMS_TABLE",
    "POD_ENV",
    "PodShell",
    "Repository",
    "S3Server",
    "dump_mysql",
    "fill_item_cache",
    "insert_items",
    "item_rows",
    "require",
    "restic_binary",
    "restic_summary",
    "run_restic_backup",
    "run_restore",
    "s3_repository",
    "s3_server",
    "seaweedfs_binary",
    "snapshot_redis",
]

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
S3_SCRIPTS = REPOSITORY_ROOT / "scripts" / "s3"
BUILD_RESTIC = REPOSITORY_ROOT / "scripts" / "backup" / "build-restic.sh"
RESTORE_TOOL = REPOSITORY_ROOT / "scripts" / "backup" / "restore.py"
# A cold SeaweedFS build takes ~15 min on 2 busy cores (scripts/s3/README.md); restic ~1 min.
BUILD_TIMEOUT_SECONDS = 45 * 60
UP_TIMEOUT_SECONDS = 120
DOWN_TIMEOUT_SECONDS = 30

T = TypeVar("T")


def require(find: Callable[[], T]) -> T:
    """`find()`, or skip the test naming what is missing (with CI=true, fail it)."""
    try:
        return find()
    except MissingBinaryError as missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {missing}", pytrace=False)
        pytest.skip(str(missing))


def _built(script: Path, what: str) -> Path:
    """The bin directory `script` prints last (building on first use), or MissingBinaryError."""
    try:
        done = subprocess.run([str(script)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise MissingBinaryError(f"{what}: {script} did not finish: {error}") from error
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise MissingBinaryError(f"{what} could not be built by {script} (exit {done.returncode}):\n{done.stderr[-1500:]}")
    return Path(lines[-1])


def restic_binary() -> str:
    """restic at the backup pods' version (scripts/backup/versions.env), built once and cached."""
    binary = _built(BUILD_RESTIC, "restic") / "restic"
    if not os.access(binary, os.X_OK):
        raise MissingBinaryError(f"restic: {BUILD_RESTIC} gave no executable {binary}")
    return str(binary)


def seaweedfs_binary() -> str:
    """SeaweedFS's `weed` (scripts/s3/versions.env), built once and cached."""
    binary = _built(S3_SCRIPTS / "build.sh", "the S3 server (SeaweedFS)") / "weed"
    if not os.access(binary, os.X_OK):
        raise MissingBinaryError(f"SeaweedFS: {S3_SCRIPTS / 'build.sh'} gave no executable {binary}")
    return str(binary)


class PodShell:
    """busybox's `sh` with busybox's applets and restic, and nothing else on PATH: the restic
    image (alpine) as far as a script can tell. A GNU-only flag fails here as it would there."""

    def __init__(self, directory: Path, restic: str) -> None:
        busybox = find_binary("busybox")
        if busybox is None:
            raise MissingBinaryError("busybox not found (Debian: apt-get install busybox): the restic image's shell")
        directory.mkdir(parents=True, exist_ok=True)
        applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True, timeout=30).stdout.split()
        for applet in applets:
            link = directory / applet
            if not link.exists():
                link.symlink_to(busybox)
        (directory / "restic").unlink(missing_ok=True)
        (directory / "restic").symlink_to(restic)
        self.directory = directory

    def run(self, script: str, *, env: Mapping[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run `script` with `sh -c` in a clean environment: PATH, then `env` (HOME and TMPDIR, as a pod has)."""
        environment = {"PATH": str(self.directory), "HOME": env.get("HOME", "/nonexistent"), **env}
        return subprocess.run(
            [str(self.directory / "sh"), "-c", script], capture_output=True, text=True, env=environment, timeout=timeout, check=False
        )


@dataclass(frozen=True)
class S3Server:
    """A running SeaweedFS S3 gateway (scripts/s3/up.sh) and what a client needs to reach it."""

    run_dir: Path
    endpoint: str
    access_key_id: str
    secret_access_key: str
    region: str
    bucket: str

    @property
    def data_dir(self) -> Path:
        """Where the server keeps every object (unencrypted at rest)."""
        return self.run_dir / "data"

    @property
    def pid(self) -> int:
        return int((self.run_dir / "pids" / "weed.pid").read_text())

    def repository(self, path: str) -> str:
        return f"s3:{self.endpoint}/{self.bucket}/{path}"

    def client_env(self) -> dict[str, str]:
        """The environment restic (and the restore tool) take S3 credentials from."""
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key, "AWS_DEFAULT_REGION": self.region}


@contextmanager
def s3_server(run_dir: Path, weed: str, bucket: str = "backups") -> Iterator[S3Server]:
    """A started S3 server with `bucket`, in `run_dir`; stopped by its PID on exit, however the body ended."""
    environment = {**os.environ, "S3_BUCKET": bucket, "WEED": weed}
    try:
        up = [str(S3_SCRIPTS / "up.sh"), str(run_dir)]
        started = subprocess.run(up, capture_output=True, text=True, env=environment, timeout=UP_TIMEOUT_SECONDS, check=False)
        if started.returncode != 0:
            raise RuntimeError(f"scripts/s3/up.sh failed (exit {started.returncode}):\n{started.stderr[-2000:]}")
        credentials = dict(
            line.split("=", 1) for line in Path(started.stdout.strip().splitlines()[-1]).read_text().splitlines() if "=" in line
        )
        yield S3Server(
            run_dir=run_dir,
            endpoint=credentials["S3_ENDPOINT"],
            access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            region=credentials["S3_REGION"],
            bucket=bucket,
        )
    finally:
        _stop(run_dir)


def _stop(run_dir: Path) -> None:
    # down.sh signals only the PIDs in run_dir/pids whose command line names run_dir (TERM, then
    # KILL) and removes their pid files; a store about to be deleted needs no graceful filer flush.
    subprocess.run(
        [str(S3_SCRIPTS / "down.sh"), str(run_dir)],
        capture_output=True,
        env={**os.environ, "S3_DOWN_TIMEOUT": "2"},
        timeout=DOWN_TIMEOUT_SECONDS,
        check=False,
    )
    # Should down.sh itself have failed: the same check, and SIGKILL.
    for pid_file in (run_dir / "pids").glob("*.pid"):
        pid = pid_file.read_text().strip()
        cmdline = Path(f"/proc/{pid}/cmdline")
        if pid.isdigit() and cmdline.exists() and str(run_dir) in cmdline.read_bytes().decode(errors="replace"):
            os.kill(int(pid), signal.SIGKILL)


# --- the backup jobs' steps, as the pods run them --------------------------------------------------

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
    """scripts/backup/restore.py as an operator runs it: the repository named by restic's environment variables."""
    return subprocess.run(
        [sys.executable, str(RESTORE_TOOL), "--restic", restic, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **repository.env},
        timeout=timeout,
        check=False,
    )


# --- the app's data ------------------------------------------------------------------------------

# The app's `items` table, as app/src/service/migrations/versions/0001_create_items.py creates it.
ITEMS_TABLE = (
    "CREATE TABLE items (id BIGINT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(200) NOT NULL, description TEXT NULL,"
    " quantity INT NOT NULL DEFAULT 0, created_at DATETIME(6) NOT NULL, updated_at DATETIME(6) NOT NULL)"
    " ENGINE=InnoDB CHARACTER SET utf8mb4"
)
# The app's item cache: service.cache.KEY_PREFIX + "item:<id>".
ITEM_KEY_PREFIX = "service:v1:item:"


def insert_items(server: MariaDB, database: str, rows: int, salt: str = "") -> None:
    """`rows` generated rows into `items` (~300 bytes each; `salt`, a plain word, makes them differ per call)."""
    if not re.fullmatch(r"\w*", salt):
        raise ValueError(f"salt must be a plain word: {salt!r}")
    generated = (
        "INSERT INTO items (name, description, quantity, created_at, updated_at)"  # noqa: S608 - a checked word, a number
        f" SELECT CONCAT('item ', seq, ' ', LEFT(SHA2(CONCAT('{salt}', seq), 256), 10)),"
        f" CONCAT_WS(' ', SHA2(CONCAT(seq, '{salt}'), 512), 'restocked weekly;', seq % 97, 'units per pallet'),"
        " seq * 7919 % 1000, TIMESTAMP('2025-01-01') + INTERVAL seq SECOND + INTERVAL seq MICROSECOND,"
        f" TIMESTAMP('2025-06-01') + INTERVAL seq MINUTE FROM seq_1_to_{int(rows)}"
    )
    server.sql(generated, database)


def item_rows(server: MariaDB, database: str) -> list[str]:
    """Every row of `items`, by id, each column exact (text as hex): equal lists, equal tables."""
    return server.sql(
        "SELECT id, HEX(name), HEX(description), quantity, created_at, updated_at FROM items ORDER BY id", database
    ).splitlines()


def fill_item_cache(server: RedisServer, keys: int, *, salt: str = "", ttl_seconds: int = 3600) -> None:
    """`keys` entries of the app's item cache: an item's JSON (as ItemOut serialises it) with a TTL."""
    created = datetime(2025, 1, 1)  # naive: the app keeps UTC in DATETIME(6) columns
    with server.client() as client:
        client.pipeline(
            (
                "SET",
                f"{ITEM_KEY_PREFIX}{n}",
                json.dumps(
                    {
                        "id": n,
                        "name": f"item {n} {salt}".rstrip(),
                        "description": None if n % 5 == 0 else f"restocked weekly; {n % 97} units per pallet",
                        "quantity": n * 7919 % 1000,
                        "created_at": (created + timedelta(seconds=n)).isoformat(),
                        "updated_at": (created + timedelta(minutes=n)).isoformat(),
                    },
                    separators=(",", ":"),
                ),
                "EX",
                ttl_seconds,
            )
            for n in range(1, keys + 1)
        )
