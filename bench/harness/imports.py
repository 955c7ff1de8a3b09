"""Bulk import jobs and the items they wrote, read straight from MariaDB: what the worker did,
whatever the API or the worker says."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from typing import NamedTuple

from bench.harness.datastores import mariadb_root
from bench.harness.testbed import DATABASE, Testbed

POLL_S = 0.02
FINISHED = ("succeeded", "failed")


class Job(NamedTuple):
    state: str
    total: int
    inserted: int
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def items(prefix: str, count: int) -> list[dict[str, object]]:
    """`count` items named `prefix`-0 ... so the rows of one import can be counted by name."""
    return [{"name": f"{prefix}-{i}", "quantity": i} for i in range(count)]


def jobs(testbed: Testbed, ids: list[int]) -> dict[int, Job]:
    if not ids:
        return {}
    with mariadb_root(testbed.db, DATABASE) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT id, state, total, inserted, attempts, created_at, started_at, finished_at FROM imports WHERE id BETWEEN %s AND %s",
            (min(ids), max(ids)),
        )
        wanted = set(ids)
        return {int(row[0]): Job(*row[1:]) for row in cur.fetchall() if int(row[0]) in wanted}


def wait_finished(testbed: Testbed, ids: list[int], timeout_s: float) -> dict[int, Job]:
    """The jobs once all have finished, or as they are after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = jobs(testbed, ids)
        if (len(found) == len(ids) and all(j.state in FINISHED for j in found.values())) or time.monotonic() > deadline:
            return found
        time.sleep(POLL_S)


def running(testbed: Testbed, ids: list[int]) -> list[int]:
    return [job_id for job_id, job in jobs(testbed, ids).items() if job.state == "running"]


def name_counts(testbed: Testbed, prefix: str) -> Counter[str]:
    """Rows per item name, for names starting with `prefix`."""
    with mariadb_root(testbed.db, DATABASE) as conn, conn.cursor() as cur:
        cur.execute("SELECT name, COUNT(*) FROM items WHERE name LIKE %s GROUP BY name", (f"{prefix}%",))
        return Counter({str(name): int(n) for name, n in cur.fetchall()})
