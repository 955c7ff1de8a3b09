"""The items table read and written straight through MariaDB, around the service and its cache."""

from __future__ import annotations

from bench.harness.datastores import mariadb_root
from bench.harness.testbed import DATABASE, Testbed

INSERT_BATCH = 5000


def insert_uncached(testbed: Testbed, count: int) -> tuple[int, int]:
    """Insert `count` rows Redis never sees; their id range (lowest, highest)."""
    with mariadb_root(testbed.db, DATABASE) as conn, conn.cursor() as cur:
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM items")
        lowest = int(cur.fetchone()[0]) + 1
        rows = [(f"u{i}", "uncached bench row", i) for i in range(count)]
        for i in range(0, len(rows), INSERT_BATCH):
            cur.executemany(
                "INSERT INTO items (name, description, quantity, created_at, updated_at) "
                "VALUES (%s, %s, %s, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
                rows[i : i + INSERT_BATCH],
            )
        cur.execute("SELECT MAX(id) FROM items")
        highest = int(cur.fetchone()[0])
    return lowest, highest


def count_missing(testbed: Testbed, ids: list[int]) -> int:
    """How many of `ids` (acknowledged creates) are not in the table."""
    if not ids:
        return 0
    with mariadb_root(testbed.db, DATABASE) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM items WHERE id BETWEEN %s AND %s", (min(ids), max(ids)))
        found = {int(r[0]) for r in cur.fetchall()}
    return len(set(ids) - found)
