"""The real worker (``python -m service worker``, prefork pool) on the real servers, driven through
the API: imports end succeeded with each item inserted once, whatever happens to the worker.

A worker killed mid-task must not lose the task (it was acknowledged late, so Redis hands it out
again) nor insert anything twice (the task is idempotent). Imports with one item per batch make a
task slow enough (one transaction per item) to be caught in the middle.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import httpx
import pytest

from service.config import WorkerPool
from service.jobs.celery_app import IMPORT_TASK
from service.jobs.worker import SHUTTING_DOWN_MESSAGE, STOPPED_MESSAGE
from service.logs import REDACTED
from service_tests.cli import run_service
from service_tests.import_jobs import item_names, jobs, start_import, wait_finished, wait_until
from service_tests.prometheus import sample
from service_tests.testbed import API_KEY, database
from service_tests.worker_process import WorkerProcess, running_worker
from testservers import MariaDB, RedisServer, free_port

# Slow imports: one transaction per item, so a kill lands mid-task.
SLOW = {"import_batch_size": "1"}
SLOW_IMPORT_ITEMS = 300
# A whole worker killed: its task comes back after the visibility timeout, which must exceed the
# task time limit; short ones, so the test waits seconds, not an hour. (A slow import that reaches
# the soft limit goes on in a new run: still exactly once.)
SHORT_LIMITS = {
    "task_soft_time_limit_seconds": "2",
    "task_time_limit_seconds": "3",
    "broker_visibility_timeout_seconds": "4",
}


@pytest.fixture
def worker(mariadb: MariaDB, redis_server: RedisServer, clean_state: None, tmp_path: Path) -> Iterator[WorkerProcess]:
    with running_worker(mariadb, redis_server, tmp_path) as running:
        yield running


def progress(mariadb: MariaDB, job_id: int) -> int:
    return int(jobs(mariadb)[job_id]["processed"])


@pytest.mark.parametrize("pool", get_args(WorkerPool))
async def test_an_import_runs_to_succeeded_with_every_item_inserted(
    client: httpx.AsyncClient, mariadb: MariaDB, redis_server: RedisServer, clean_state: None, tmp_path: Path, pool: str
) -> None:
    with running_worker(mariadb, redis_server, tmp_path, worker_pool=pool):
        job_id = await start_import(client, 250, "round-trip")
        job = await wait_finished(client, job_id)
    assert (job["state"], job["total"], job["inserted"], job["failed"], job["errors"]) == ("succeeded", 250, 250, 0, [])
    assert job["started_at"] is not None and job["finished_at"] is not None
    assert item_names(mariadb, "round-trip") == {f"round-trip-{i}": 1 for i in range(250)}


@pytest.fixture
def refusing_trigger(mariadb: MariaDB, clean_state: None) -> Iterator[str]:
    """A trigger that makes the database refuse items named "refused" (as a constraint would); the name."""
    with database(mariadb) as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TRIGGER refuse_items BEFORE INSERT ON items FOR EACH ROW "
            "IF NEW.name = 'refused' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by the test'; END IF"
        )
    try:
        yield "refused"
    finally:
        with database(mariadb) as conn, conn.cursor() as cur:
            cur.execute("DROP TRIGGER IF EXISTS refuse_items")


async def test_an_item_the_database_refuses_is_counted_failed_and_the_others_are_inserted(
    client: httpx.AsyncClient, worker: WorkerProcess, mariadb: MariaDB, refusing_trigger: str
) -> None:
    items = [{"name": "kept-0"}, {"name": refusing_trigger}, {"name": "kept-1"}]
    response = await client.post("/api/v1/imports", json={"items": items})
    job = await wait_finished(client, response.json()["id"])
    assert (job["state"], job["inserted"], job["failed"]) == ("succeeded", 2, 1)
    (error,) = job["errors"]
    assert error["position"] == 1 and "refused by the test" in error["detail"]
    assert item_names(mariadb, "kept") == {"kept-0": 1, "kept-1": 1}


async def test_a_worker_killed_mid_import_and_restarted_inserts_every_item_exactly_once(
    client: httpx.AsyncClient, mariadb: MariaDB, redis_server: RedisServer, clean_state: None, tmp_path: Path
) -> None:
    settings = {**SLOW, **SHORT_LIMITS}
    with running_worker(mariadb, redis_server, tmp_path, **settings) as first:
        job_id = await start_import(client, SLOW_IMPORT_ITEMS, "killed")
        wait_until(lambda: progress(mariadb, job_id) > 0, "the import under way")
        first.kill()  # the whole worker, pool included: SIGKILL, as when the pod is killed
    killed_at = progress(mariadb, job_id)
    assert 0 < killed_at < SLOW_IMPORT_ITEMS  # caught mid-task
    with running_worker(mariadb, redis_server, tmp_path, **settings):
        job = await wait_finished(client, job_id)
    assert (job["state"], job["inserted"], job["failed"]) == ("succeeded", SLOW_IMPORT_ITEMS, 0)
    assert job["attempts"] >= 2  # run again after the kill, not only once
    assert item_names(mariadb, "killed") == {f"killed-{i}": 1 for i in range(SLOW_IMPORT_ITEMS)}


async def test_a_pool_process_killed_mid_import_is_replaced_and_the_import_finishes_exactly_once(
    client: httpx.AsyncClient, mariadb: MariaDB, redis_server: RedisServer, clean_state: None, tmp_path: Path
) -> None:
    # As the OOM killer would: only the process running the task. The worker requeues its task
    # at once (task_reject_on_worker_lost) rather than after the visibility timeout.
    with running_worker(mariadb, redis_server, tmp_path, worker_concurrency="1", **SLOW) as worker:
        job_id = await start_import(client, SLOW_IMPORT_ITEMS, "oom")
        wait_until(lambda: progress(mariadb, job_id) > 0, "the import under way")
        (pool_process,) = worker.pool_processes()
        os.kill(pool_process, signal.SIGKILL)
        job = await wait_finished(client, job_id)
        assert worker.process.poll() is None  # the worker itself carried on
    assert (job["state"], job["inserted"], job["attempts"]) == ("succeeded", SLOW_IMPORT_ITEMS, 2)
    assert item_names(mariadb, "oom") == {f"oom-{i}": 1 for i in range(SLOW_IMPORT_ITEMS)}


async def test_sigterm_under_load_finishes_the_running_imports_and_loses_none(
    client: httpx.AsyncClient, mariadb: MariaDB, redis_server: RedisServer, clean_state: None, tmp_path: Path
) -> None:
    items_per_import = 100
    with running_worker(mariadb, redis_server, tmp_path, **SLOW) as worker:
        accepted = [await start_import(client, items_per_import, f"load-{n}") for n in range(4)]
        running_at_sigterm: list[int] = []

        def some_running() -> bool:
            running_at_sigterm[:] = [job_id for job_id, job in jobs(mariadb).items() if job["state"] == "running"]
            return bool(running_at_sigterm)

        wait_until(some_running, "an import running")
        worker.process.send_signal(signal.SIGTERM)
        # The API keeps accepting while the worker drains.
        accepted += [await start_import(client, items_per_import, f"load-{n}") for n in range(4, 8)]
        code, output = worker.stop()
    finished_by_it = {job_id: job["state"] for job_id, job in jobs(mariadb).items() if job_id in running_at_sigterm}
    assert code == 0
    assert running_at_sigterm and set(finished_by_it.values()) == {"succeeded"}  # warm: finished, not abandoned
    messages = [entry["msg"] for entry in worker.log_entries()]
    assert messages.index(SHUTTING_DOWN_MESSAGE) < messages.index(STOPPED_MESSAGE)
    assert "Warm shutdown" in output

    with running_worker(mariadb, redis_server, tmp_path, **SLOW):
        finished = [await wait_finished(client, job_id) for job_id in accepted]
    assert {job["state"] for job in finished} == {"succeeded"}
    assert {job["attempts"] for job in finished} == {1}  # none abandoned mid-task and run again
    for n in range(len(accepted)):
        assert item_names(mariadb, f"load-{n}") == {f"load-{n}-{i}": 1 for i in range(items_per_import)}


async def test_the_worker_logs_json_lines_with_the_import_id_and_no_secret(
    client: httpx.AsyncClient, worker: WorkerProcess, mariadb: MariaDB, redis_server: RedisServer
) -> None:
    job_id = await start_import(client, 3, "logged")
    await wait_finished(client, job_id)
    _, output = worker.stop()
    entries = worker.log_entries()
    import_lines = [e for e in entries if e["logger"] == "service.jobs.imports"]
    assert {e["msg"] for e in import_lines} >= {"import started", "import finished"}
    assert {e["import_id"] for e in import_lines} == {job_id}
    for secret in (mariadb.password, redis_server.password, API_KEY):
        assert secret not in output
    assert f":{REDACTED}@" in output  # the broker URL is logged at connect, its password masked


async def test_the_worker_serves_task_counts_and_run_times_for_prometheus(
    client: httpx.AsyncClient, mariadb: MariaDB, redis_server: RedisServer, clean_state: None, tmp_path: Path
) -> None:
    with running_worker(mariadb, redis_server, tmp_path, worker_metrics_port=str(free_port())) as worker:
        async with httpx.AsyncClient(timeout=10) as scraper:
            before = (await scraper.get(worker.metrics_url)).text
            await wait_finished(client, await start_import(client, 2, "metered"))
            await wait_finished(client, await start_import(client, 2, "metered-again"))
            after = (await scraper.get(worker.metrics_url)).text
    counted = {"task": IMPORT_TASK, "state": "succeeded"}
    assert sample(before, "service_worker_tasks_total", **counted) == 0
    # Counted in the pool's processes, served by the main one.
    assert sample(after, "service_worker_tasks_total", **counted) == 2
    assert sample(after, "service_worker_task_duration_seconds_count", task=IMPORT_TASK) == 2


def run_probe(worker: WorkerProcess, probe: str) -> int:
    return run_service([probe], worker.env).returncode


def test_worker_alive_is_0_while_the_worker_runs_and_1_once_it_has_stopped(worker: WorkerProcess) -> None:
    running = run_probe(worker, "worker-alive")
    worker.stop()
    assert (running, run_probe(worker, "worker-alive")) == (0, 1)


def test_worker_alive_is_1_for_a_stale_heartbeat(worker: WorkerProcess) -> None:
    worker.kill()  # frozen or gone: nothing touches the file any more
    worker.heartbeat_file.touch()
    max_age = int(worker.env.get("WORKER_HEARTBEAT_MAX_AGE_SECONDS", "30"))
    stale = worker.heartbeat_file.stat().st_mtime - max_age - 1
    os.utime(worker.heartbeat_file, (stale, stale))
    assert run_probe(worker, "worker-alive") == 1


def test_worker_ready_is_0_with_the_broker_up_and_1_with_it_down(
    worker: WorkerProcess, redis_server: RedisServer
) -> None:
    up = run_probe(worker, "worker-ready")
    redis_server.stop()
    assert (up, run_probe(worker, "worker-ready")) == (0, 1)


async def test_a_queued_import_waits_for_a_worker_and_runs_once_one_starts(
    client: httpx.AsyncClient, mariadb: MariaDB, redis_server: RedisServer, clean_state: None, tmp_path: Path
) -> None:
    job_id = await start_import(client, 5, "waiting")
    await asyncio.sleep(0.5)
    queued = (await client.get(f"/api/v1/imports/{job_id}")).json()["state"]
    with running_worker(mariadb, redis_server, tmp_path):
        job = await wait_finished(client, job_id)
    assert (queued, job["state"], job["inserted"]) == ("queued", "succeeded", 5)


async def test_an_import_longer_than_the_soft_time_limit_goes_on_in_new_runs_exactly_once(
    client: httpx.AsyncClient, mariadb: MariaDB, redis_server: RedisServer, clean_state: None, tmp_path: Path
) -> None:
    limits = {
        "task_soft_time_limit_seconds": "1",
        "task_time_limit_seconds": "3",
        "broker_visibility_timeout_seconds": "4",
    }
    items = 2 * SLOW_IMPORT_ITEMS  # a few seconds at one item per transaction
    with running_worker(mariadb, redis_server, tmp_path, worker_concurrency="1", **SLOW, **limits):
        job = await wait_finished(client, await start_import(client, items, "long"))
    assert (job["state"], job["inserted"]) == ("succeeded", items)
    assert job["attempts"] >= 2  # stopped at the soft limit, went on from its marker
    assert item_names(mariadb, "long") == {f"long-{i}": 1 for i in range(items)}


async def test_an_import_survives_a_database_restart_mid_task(
    client: httpx.AsyncClient, mariadb: MariaDB, redis_server: RedisServer, clean_state: None, tmp_path: Path
) -> None:
    with running_worker(mariadb, redis_server, tmp_path, **SLOW) as worker:
        job_id = await start_import(client, SLOW_IMPORT_ITEMS, "db-restart")
        wait_until(lambda: progress(mariadb, job_id) > 0, "the import under way")
        mariadb.stop()
        mariadb.start()
        job = await wait_finished(client, job_id)
        retried = [e for e in worker.log_entries() if e["msg"] == "database unavailable, import retried"]
    assert (job["state"], job["inserted"], job["failed"]) == ("succeeded", SLOW_IMPORT_ITEMS, 0)
    assert retried and {e["import_id"] for e in retried} == {job_id}
    assert item_names(mariadb, "db-restart") == {f"db-restart-{i}": 1 for i in range(SLOW_IMPORT_ITEMS)}


async def test_the_worker_consumes_again_after_a_redis_restart(
    client: httpx.AsyncClient, worker: WorkerProcess, redis_server: RedisServer
) -> None:
    redis_server.stop()
    down = run_probe(worker, "worker-ready")
    redis_server.start()
    # The API's publisher and the worker's consumer both reconnect; nothing was lost that Redis held
    # (the test server keeps nothing across a restart, so nothing was queued).
    job = await wait_finished(client, await start_import(client, 3, "after-restart"))
    assert (down, run_probe(worker, "worker-ready"), job["state"]) == (1, 0, "succeeded")
    assert worker.process.poll() is None
