"""Fixtures: a real MariaDB and a real Redis per test session (testservers), the app on them.

Missing server binaries skip the tests that need them, with the reason;
with CI=true they fail instead, so CI cannot go green without real servers.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from hypothesis.configuration import set_hypothesis_home_dir

from service.config import Settings
from service.main import create_app
from service.migrate import upgrade_head
from service_tests.testbed import API_KEY, TEST_DB, database, make_settings, redis_client
from testservers import MariaDB, RedisServer, mariadb_server
from testservers import redis_server as start_redis_server

_HYPOTHESIS_HOME = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    # Hypothesis (under the contract test) keeps caches in ./.hypothesis by default: wherever the
    # run started. A directory of the run's own instead, gone when it ends.
    home = Path(tempfile.mkdtemp(prefix="hypothesis-"))
    config.stash[_HYPOTHESIS_HOME] = home
    set_hypothesis_home_dir(str(home))


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(config.stash[_HYPOTHESIS_HOME], ignore_errors=True)


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    with mariadb_server(tmp_path_factory.mktemp("mariadb")) as server:
        server.setup_user()
        server.create_database(TEST_DB)
        yield server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with start_redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def migrated(mariadb: MariaDB, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    upgrade_head(make_settings(mariadb, redis_server, tmp_path_factory.mktemp("secrets")))


@pytest.fixture(autouse=True)
def _servers_back_up(request: pytest.FixtureRequest) -> Iterator[None]:
    """Restart any server an outage test stopped, so the next test starts clean."""
    yield
    for name in ("mariadb", "redis_server"):
        if name in request.fixturenames:
            server: MariaDB | RedisServer = request.getfixturevalue(name)
            if not server.running:
                server.start()


@pytest.fixture
def clean_state(mariadb: MariaDB, redis_server: RedisServer, migrated: None) -> None:
    with database(mariadb) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM items")
        cur.execute("DELETE FROM imports")
    # Every database: the cache's and the task queue's (tasks an earlier test left unconsumed).
    # Before any process of the test connects: kombu keeps its queue bindings there.
    with redis_client(redis_server) as r:
        r.flushall()


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    path = tmp_path / "secrets"
    path.mkdir()
    return path


@pytest.fixture
def settings(mariadb: MariaDB, redis_server: RedisServer, secrets_dir: Path, clean_state: None) -> Settings:
    return make_settings(mariadb, redis_server, secrets_dir)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def anon(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no credentials, inside the app's lifespan."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 12345))
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


@pytest.fixture
async def client(anon: httpx.AsyncClient) -> httpx.AsyncClient:
    anon.headers["Authorization"] = f"Bearer {API_KEY}"
    return anon
