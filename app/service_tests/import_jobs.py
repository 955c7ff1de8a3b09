"""Bulk imports as the tests drive them: through the API, and straight from the tables to check them."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from service_tests.testbed import database
from testservers import MariaDB

# Every wait for a job or the worker is bounded by this.
WAIT_SECONDS = 60.0
POLL_SECONDS = 0.02
FINISHED = ("succeeded", "failed")


def import_body(count: int, prefix: str) -> dict[str, Any]:
    """`count` items named `prefix`-0, `prefix`-1, ..., so their rows can be counted by name."""
    return {"items": [{"name": f"{prefix}-{i}", "quantity": i} for i in range(count)]}


async def start_import(client: httpx.AsyncClient, count: int, prefix: str) -> int:
    response = await client.post("/api/v1/imports", json=import_body(count, prefix))
    assert response.status_code == 202, response.text
    job_id: int = response.json()["id"]
    return job_id


async def wait_finished(client: httpx.AsyncClient, job_id: int) -> dict[str, Any]:
    """The job once it has succeeded or failed (GET polled); fails the test after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        response = await client.get(f"/api/v1/imports/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["state"] in FINISHED:
            return job
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError(f"import {job_id} not finished within {WAIT_SECONDS} s: {job}")


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_SECONDS} s: {what}")
        time.sleep(POLL_SECONDS)


def jobs(mariadb: MariaDB) -> dict[int, dict[str, Any]]:
    """Every job's row but its items, by id, read straight from the table."""
    with database(mariadb) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, state, total, processed, inserted, failed, attempts FROM imports")
        columns = [c[0] for c in cur.description]
        return {row[0]: dict(zip(columns, row, strict=True)) for row in cur.fetchall()}


def item_names(mariadb: MariaDB, prefix: str) -> Counter[str]:
    """How many rows of the items table have each name that starts with `prefix`-."""
    with database(mariadb) as conn, conn.cursor() as cur:
        cur.execute("SELECT name FROM items WHERE name LIKE %s", (f"{prefix}-%",))
        return Counter(row[0] for row in cur.fetchall())
