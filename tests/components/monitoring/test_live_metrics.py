"""Every PromQL expression of the alerts and the dashboard names a metric the service really
exports, with label values it really writes: checked against a LIVE /metrics of the API and of
the worker (`python -m service` and `python -m service worker` from app/.venv, on real MariaDB
and Redis from testservers/), after an import ran through both."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.config import PrometheusRuleConfig
from components.monitoring.alerts import rule_groups
from components.monitoring.dashboard import dashboard, expressions
from components.monitoring.queries import API_JOB, EXTERNAL_METRICS, WORKER_JOB
from tests.components.monitoring.promql import Selector, selectors
from testservers import MariaDB, RedisServer, free_port, mariadb_server, redis_server
from testservers.app_data import APP_PYTHON, migrate_app_schema

DATABASE = "app"
API_KEY = "live-metrics-key-" + "c" * 32
NAMESPACE = "fastapi-live"
# Labels the scrape adds (prometheus-operator: namespace, job, pod, ...); the service writes none of them.
SCRAPE_LABELS = frozenset({"namespace", "job", "pod", "instance", "service", "endpoint", "container"})
READY_SECONDS = 60.0


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]


def _expressions() -> list[str]:
    groups = rule_groups(PrometheusRuleConfig(enabled=True), NAMESPACE, worker=True, backups=True)
    alerts = [rule["expr"] for group in groups for rule in group["rules"]]
    return alerts + expressions(dashboard(NAMESPACE, worker=True))


def _job(selector: Selector) -> str | None:
    return next((value for label, op, value in selector.matchers if label == "job" and op == "="), None)


def _get(url: str, body: dict[str, object] | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if body is not None else "GET")  # noqa: S310 - 127.0.0.1
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - 127.0.0.1
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _until(what: str, check: object, log: Path | None = None, timeout: float = READY_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if callable(check) and check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    pytest.fail(f"{what} did not happen within {timeout:.0f} s\n{tail}")


_SAMPLE = re.compile(r"^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+\S+")
_LABEL = re.compile(r'(?P<key>[A-Za-z_][A-Za-z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)",?')


def _samples(text: str) -> list[Sample]:
    found = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and not line.startswith("#"):
            labels = {m["key"]: m["value"].replace('\\"', '"') for m in _LABEL.finditer(match["labels"] or "")}
            found.append(Sample(match["name"], labels))
    return found


@dataclass
class Live:
    api: list[Sample]
    worker: list[Sample]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MariaDB, RedisServer]]:
    if not APP_PYTHON.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("app/.venv is missing: run `make test` (it syncs the app env first)")
        pytest.skip("app/.venv is missing: `cd app && uv sync` to scrape the service for real")
    base = tmp_path_factory.mktemp("live-metrics")
    (base / "mariadb").mkdir()
    (base / "redis").mkdir()
    with mariadb_server(base / "mariadb") as database, redis_server(base / "redis") as cache:
        migrate_app_schema(database, DATABASE)
        yield database, cache


@pytest.fixture(scope="module")
def live(servers: tuple[MariaDB, RedisServer], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    database, cache = servers
    work = tmp_path_factory.mktemp("service")
    secrets = work / "secrets"
    secrets.mkdir()
    (secrets / "db_password").write_text(database.password)
    (secrets / "redis_password").write_text(cache.password)
    (secrets / "api_keys").write_text(API_KEY)
    api_port, worker_port = free_port(), free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "PYTHONUNBUFFERED": "1",
        "APP_ENV": "dev",
        "SECRETS_DIR": str(secrets),
        "SERVICE_HOST": "127.0.0.1",
        "SERVICE_PORT": str(api_port),
        "WORKERS": "1",
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(database.port),
        "DB_NAME": DATABASE,
        "DB_USER": database.user,
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(cache.port),
        "WORKER_CONCURRENCY": "1",
        "WORKER_METRICS_PORT": str(worker_port),
        "WORKER_HEARTBEAT_FILE": str(work / "heartbeat"),
    }
    processes: list[subprocess.Popen[bytes]] = []
    logs = {name: work / f"{name}.log" for name in ("api", "worker")}
    try:
        for name, args in (("api", []), ("worker", ["worker"])):
            with logs[name].open("wb") as output:
                command = [str(APP_PYTHON), "-m", "service", *args]
                processes.append(subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True))
        api, worker = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{worker_port}"
        _until("the API answering /readyz", lambda: _get(f"{api}/readyz")[0] == 200, logs["api"])
        _until("the worker serving its metrics", lambda: _get(f"{worker}/metrics")[0] == 200, logs["worker"])
        # An import runs through the API and the worker: both count it, under the labels the backlog reads.
        status, body = _get(f"{api}/api/v1/imports", {"items": [{"name": "scraped", "quantity": 1}]})
        assert status == 202, body
        job = json.loads(body)["id"]
        _until(
            "the import finishing",
            lambda: json.loads(_get(f"{api}/api/v1/imports/{job}")[1])["state"] in ("succeeded", "failed"),
            logs["worker"],
        )
        for _ in range(2):
            _get(f"{api}/api/v1/items/1")  # a cache miss, then a hit
        _until("the worker counting the run", lambda: b"service_worker_tasks_total{" in _get(f"{worker}/metrics")[1], logs["worker"])
        worker_samples = _samples(_get(f"{worker}/metrics")[1].decode())
        # A server error for the error ratio to read: with the broker gone an import is refused (503).
        cache.stop()
        status, body = _get(f"{api}/api/v1/imports", {"items": [{"name": "refused", "quantity": 1}]})
        assert status == 503, body
        yield Live(_samples(_get(f"{api}/metrics")[1].decode()), worker_samples)
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, 9)
                process.wait(timeout=30)


def test_every_query_names_a_metric_the_service_exports(live: Live) -> None:
    exported = {API_JOB: {sample.name for sample in live.api}, WORKER_JOB: {sample.name for sample in live.worker}}
    read = [(selector, expr) for expr in _expressions() for selector in selectors(expr)]
    assert read
    for selector, expr in read:
        if selector.metric in EXTERNAL_METRICS:
            continue
        job = _job(selector)
        assert job in exported, f"{selector.metric} is read without the job it comes from: {expr}"
        assert selector.metric in exported[job], f"the {job} does not export {selector.metric} (read by {expr})"


def test_every_label_value_a_query_matches_is_one_the_service_writes(live: Live) -> None:
    by_job = {API_JOB: live.api, WORKER_JOB: live.worker}
    for expr in _expressions():
        for selector in selectors(expr):
            job = _job(selector)
            if selector.metric in EXTERNAL_METRICS or job is None:
                continue
            samples = [sample for sample in by_job[job] if sample.name == selector.metric]
            for label, op, value in selector.matchers:
                if label in SCRAPE_LABELS or op not in ("=", "=~"):
                    continue
                written = {sample.labels.get(label) for sample in samples}
                matches = [text for text in written if text is not None and (text == value if op == "=" else re.fullmatch(value, text))]
                assert matches, f"{selector.metric}{{{label}{op}{value!r}}}: the {job} writes {sorted(map(str, written))} (in {expr})"


def test_the_metrics_read_from_elsewhere_are_few_and_said_where(live: Live) -> None:
    exported = {sample.name for sample in live.api + live.worker}
    external = {selector.metric for expr in _expressions() for selector in selectors(expr)} - exported
    assert external <= set(EXTERNAL_METRICS)
    assert not set(EXTERNAL_METRICS) & exported
