"""The API's documentation is served where Settings.docs_enabled says: everywhere but prod."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi.routing import APIRoute

from service.api import docs
from service.main import create_app
from service_tests.testbed import make_settings
from testservers import MariaDB, RedisServer

DOC_PATHS = sorted(route.path for route in docs.router.routes if isinstance(route, APIRoute))


@asynccontextmanager
async def client_in(
    app_env: str, mariadb: MariaDB, redis_server: RedisServer, secrets_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(mariadb, redis_server, secrets_dir, app_env=app_env))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


async def test_dev_serves_the_docs_on_its_own_openapi_document(
    mariadb: MariaDB, redis_server: RedisServer, secrets_dir: Path, clean_state: None
) -> None:
    async with client_in("dev", mariadb, redis_server, secrets_dir) as client:
        responses = {path: await client.get(path) for path in DOC_PATHS}
    assert {path: r.status_code for path, r in responses.items()} == dict.fromkeys(DOC_PATHS, httpx.codes.OK)
    assert responses.pop(docs.OPENAPI_PATH).json()["paths"]
    for path, page in responses.items():
        assert docs.OPENAPI_PATH in page.text, path


async def test_prod_serves_no_docs(
    mariadb: MariaDB, redis_server: RedisServer, secrets_dir: Path, clean_state: None
) -> None:
    async with client_in("prod", mariadb, redis_server, secrets_dir) as client:
        statuses = {path: (await client.get(path)).status_code for path in DOC_PATHS}
    assert statuses == dict.fromkeys(DOC_PATHS, httpx.codes.NOT_FOUND)
