"""The app's data in real servers: its schema (created by the app's own migrations), generated rows,
and item-cache entries."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from testservers.mariadb import MariaDB
from testservers.process import REPOSITORY_ROOT, MissingBinaryError
from testservers.redis import RedisServer

# The app's own environment (`make test` builds it from app/uv.lock): its migrations make the schema.
APP_PYTHON = REPOSITORY_ROOT / "app" / ".venv" / "bin" / "python"
MIGRATE_TIMEOUT_SECONDS = 120


def migrate_app_schema(server: MariaDB, database: str) -> None:
    """The app's schema in `database` (created empty first), made by `python -m service migrate`:
    what the Kubernetes migration Job runs, so these tables are the app's, never a copy."""
    if not APP_PYTHON.exists():
        raise MissingBinaryError(f"{APP_PYTHON} not found: build the app's environment first (make test does: cd app && uv sync)")
    server.setup_user()
    server.create_database(database)
    with tempfile.TemporaryDirectory(prefix="migrate-secrets-") as secrets:
        Path(secrets, "db_password").write_text(server.password)
        Path(secrets, "api_keys").write_text("migration-only-key-" + os.urandom(8).hex())
        settings = {"DB_HOST": "127.0.0.1", "DB_PORT": str(server.port), "DB_NAME": database, "DB_USER": server.user}
        done = subprocess.run(
            [str(APP_PYTHON), "-m", "service", "migrate"],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "APP_ENV": "test", "SECRETS_DIR": secrets, **settings},
            capture_output=True,
            text=True,
            timeout=MIGRATE_TIMEOUT_SECONDS,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"python -m service migrate failed (exit {done.returncode}):\n{done.stderr[-2000:]}")


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
