"""Fixtures: a real MariaDB and a real Redis per test session.

Missing server binaries skip the tests that need them, with the reason;
with CI=true they fail instead, so CI cannot go green without real servers.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from service.config import Settings, load_settings
from service.main import create_app
from service.migrate import upgrade_head
from tests.servers import MariaDB, RedisServer, find_binary

API_KEY = "test-key-" + "a" * 32
SECOND_API_KEY = "test-key-" + "b" * 32
TEST_DB = "service_test"


def _missing(what: str) -> None:
    reason = f"{what} not found (apt-get install mariadb-server redis-server)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    mariadbd = find_binary("mariadbd")
    install_db = find_binary("mariadb-install-db")
    if not (mariadbd and install_db):
        _missing("mariadbd / mariadb-install-db")
        raise AssertionError("unreachable")
    server = MariaDB(tmp_path_factory.mktemp("mariadb"), mariadbd, install_db)
    server.start()
    server.setup_user()
    server.create_database(TEST_DB)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = find_binary("redis-server")
    if not binary:
        _missing("redis-server")
        raise AssertionError("unreachable")
    server = RedisServer(tmp_path_factory.mktemp("redis"), binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def make_settings(mariadb: MariaDB, redis_server: RedisServer, secrets_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "app_env": "test",
        "db_host": "127.0.0.1",
        "db_port": mariadb.port,
        "db_name": TEST_DB,
        "db_user": mariadb.user,
        "db_password": mariadb.password,
        "db_pool_timeout": 2,
        "redis_host": "127.0.0.1",
        "redis_port": redis_server.port,
        "redis_password": redis_server.password,
        "api_keys": f"{API_KEY},{SECOND_API_KEY}",
        "secret_key": "s" * 40,
        "secrets_dir": str(secrets_dir),
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture(scope="session")
def migrated(mariadb: MariaDB, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    upgrade_head(make_settings(mariadb, redis_server, tmp_path_factory.mktemp("secrets")))


@pytest.fixture(autouse=True)
def _servers_back_up(request: pytest.FixtureRequest) -> Iterator[None]:
    """Restart any server an outage test stopped, so the next test starts clean."""
    yield
    for name in ("mariadb", "redis_server"):
        if name in request.fixturenames:
            server = request.getfixturevalue(name)
            if not server.running:
                server.start()


@pytest.fixture
def clean_state(mariadb: MariaDB, redis_server: RedisServer, migrated: None) -> None:
    with mariadb.root(TEST_DB) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM items")
    with redis_server.client() as r:
        r.flushdb()


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
