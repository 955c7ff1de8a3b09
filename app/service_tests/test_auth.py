from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from service.config import Settings
from service.main import create_app
from service.security import ApiKeyStore
from service_tests.testbed import API_KEY, SECOND_API_KEY, make_settings
from testservers import MariaDB, RedisServer

OLD_KEY = "old-key-" + "o" * 32
NEW_KEY = "new-key-" + "n" * 32
API_PREFIX = "/api/"


async def test_api_request_without_token_returns_401_with_challenge(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/api/v1/items")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_api_request_with_wrong_token_returns_401(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/api/v1/items", headers={"Authorization": "Bearer not-a-key"})
    assert response.status_code == 401
    # RFC 6750's error code for a token that is not (or no longer) valid.
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_non_bearer_scheme_returns_401(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/api/v1/items", headers={"Authorization": f"Basic {API_KEY}"})
    assert response.status_code == 401


async def test_unauthenticated_invalid_body_gets_401_not_422(anon: httpx.AsyncClient) -> None:
    response = await anon.post("/api/v1/items", json={"name": ""})
    assert response.status_code == 401


@pytest.mark.parametrize("key", [API_KEY, SECOND_API_KEY], ids=["first-key", "second-key"])
async def test_every_configured_key_is_accepted(anon: httpx.AsyncClient, key: str) -> None:
    response = await anon.get("/api/v1/items", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
async def test_probes_and_metrics_need_no_token(anon: httpx.AsyncClient, path: str) -> None:
    response = await anon.get(path)
    assert response.status_code == 200


def test_openapi_declares_bearer_auth_on_every_api_operation_and_on_nothing_else() -> None:
    app = create_app()
    document = app.openapi()
    schemes = document["components"]["securitySchemes"]
    assert [(s["type"], s["scheme"]) for s in schemes.values()] == [("http", "bearer")]
    documented = [route for route in app.routes if isinstance(route, APIRoute) and route.include_in_schema]
    for route in documented:
        for method in route.methods or ():
            operation = document["paths"][route.path_format][method.lower()]
            required = [name for requirement in operation.get("security", []) for name in requirement]
            assert required == (list(schemes) if route.path.startswith(API_PREFIX) else []), (method, route.path)
    assert any(route.path.startswith(API_PREFIX) for route in documented)


def write_keys(path: Path, content: str) -> None:
    # Kubernetes swaps the whole file; a fresh inode and mtime, like here.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(content)
    os.replace(tmp, path)


@pytest.fixture
def rotating_app(mariadb: MariaDB, redis_server: RedisServer, secrets_dir: Path, clean_state: None) -> FastAPI:
    write_keys(secrets_dir / "api_keys", OLD_KEY + "\n")
    settings: Settings = make_settings(mariadb, redis_server, secrets_dir, api_keys=OLD_KEY)
    return create_app(settings)


async def get_items_with(app: FastAPI, key: str) -> int:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as c:
        return (await c.get("/api/v1/items", headers={"Authorization": f"Bearer {key}"})).status_code


async def test_rotated_key_file_takes_effect_without_restart(rotating_app: FastAPI, secrets_dir: Path) -> None:
    async with rotating_app.router.lifespan_context(rotating_app):
        assert await get_items_with(rotating_app, OLD_KEY) == 200
        # Step 1 of a rotation: both keys valid while clients move over.
        write_keys(secrets_dir / "api_keys", f"{OLD_KEY}\n{NEW_KEY}\n")
        assert await get_items_with(rotating_app, NEW_KEY) == 200
        assert await get_items_with(rotating_app, OLD_KEY) == 200
        # Step 2: the old key is withdrawn.
        write_keys(secrets_dir / "api_keys", f"{NEW_KEY}\n")
        # A removed key is noticed within the reload interval (the file is stat'ed at most that often).
        await asyncio.sleep(ApiKeyStore.RELOAD_INTERVAL_SECONDS + 0.05)
        assert await get_items_with(rotating_app, OLD_KEY) == 401
        assert await get_items_with(rotating_app, NEW_KEY) == 200


async def test_emptied_key_file_keeps_the_previous_keys(rotating_app: FastAPI, secrets_dir: Path) -> None:
    async with rotating_app.router.lifespan_context(rotating_app):
        write_keys(secrets_dir / "api_keys", "\n")
        assert await get_items_with(rotating_app, OLD_KEY) == 200


async def test_key_file_is_not_stated_on_every_request(
    rotating_app: FastAPI, secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with rotating_app.router.lifespan_context(rotating_app):
        store: ApiKeyStore = rotating_app.state.api_keys
        calls = 0
        real_stat = store._stat

        def counting_stat(path: Path) -> tuple[int, int, int] | None:
            nonlocal calls
            calls += 1
            return real_stat(path)

        monkeypatch.setattr(store, "_stat", counting_stat)
        for _ in range(20):
            assert await get_items_with(rotating_app, OLD_KEY) == 200
        assert calls <= 1
        # An unknown key is checked against the file at once, so a newly added key works immediately.
        assert await get_items_with(rotating_app, NEW_KEY) == 401
        assert calls >= 1
