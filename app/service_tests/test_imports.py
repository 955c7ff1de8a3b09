"""POST and GET /api/v1/imports as the API answers them, with no worker running: what it accepts,
what it refuses and how, and that a refused or failed request leaves no job behind."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from service.config import Settings
from service.main import create_app
from service.schemas import NAME_MAX_LENGTH, ImportAccepted, ImportOut, Problem
from service_tests.import_jobs import import_body, jobs
from service_tests.testbed import API_KEY, make_settings
from testservers import MariaDB, RedisServer

SMALL_LIMIT = 3


async def test_post_import_answers_202_with_the_job_and_its_location(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/imports", json=import_body(2, "accepted"))
    assert response.status_code == 202
    accepted = ImportAccepted.model_validate(response.json())
    assert (accepted.state, accepted.total) == ("queued", 2)
    location = response.headers["location"]
    assert location.endswith(f"/api/v1/imports/{accepted.id}")
    job = ImportOut.model_validate((await client.get(location)).json())
    assert (job.state, job.total, job.inserted, job.failed, job.attempts) == ("queued", 2, 0, 0, 0)


@pytest.mark.parametrize(
    ("body", "locations"),
    [
        (
            {"items": [{"name": "ok"}, {"name": "", "quantity": -1}]},
            {("body", "items", 1, "name"), ("body", "items", 1, "quantity")},
        ),
        ({"items": [{"name": "x" * (NAME_MAX_LENGTH + 1)}]}, {("body", "items", 0, "name")}),
        ({"items": [{"name": "typed", "quantity": "3"}]}, {("body", "items", 0, "quantity")}),
        ({"items": [{"name": "extra", "colour": "red"}]}, {("body", "items", 0, "colour")}),
        ({"items": []}, {("body", "items")}),
        ({"items": "not a list"}, {("body", "items")}),
        ({}, {("body", "items")}),
    ],
    ids=[
        "bad-fields",
        "name-too-long",
        "quantity-as-string",
        "unknown-field",
        "no-items",
        "items-not-a-list",
        "no-body-fields",
    ],
)
async def test_a_bad_body_is_422_naming_each_bad_field_and_creates_no_job(
    client: httpx.AsyncClient, mariadb: MariaDB, body: dict[str, object], locations: set[tuple[object, ...]]
) -> None:
    response = await client.post("/api/v1/imports", json=body)
    assert response.status_code == 422
    assert {tuple(error["loc"]) for error in response.json()["detail"]} == locations
    assert jobs(mariadb) == {}


@pytest.fixture
def small_limit_app(mariadb: MariaDB, redis_server: RedisServer, secrets_dir: Path, clean_state: None) -> FastAPI:
    settings: Settings = make_settings(mariadb, redis_server, secrets_dir, import_max_items=SMALL_LIMIT)
    return create_app(settings)


async def test_more_items_than_the_limit_is_422_on_the_items_field(small_limit_app: FastAPI, mariadb: MariaDB) -> None:
    async with small_limit_app.router.lifespan_context(small_limit_app):
        transport = httpx.ASGITransport(app=small_limit_app)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://service", headers=headers) as client:
            at_limit = await client.post("/api/v1/imports", json=import_body(SMALL_LIMIT, "limit"))
            over = await client.post("/api/v1/imports", json=import_body(SMALL_LIMIT + 1, "over"))
    assert at_limit.status_code == 202
    assert over.status_code == 422
    (error,) = over.json()["detail"]
    assert (error["loc"], error["type"], error["ctx"]["max_length"]) == (["body", "items"], "too_long", SMALL_LIMIT)
    assert [job["total"] for job in jobs(mariadb).values()] == [SMALL_LIMIT]


async def test_unknown_import_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/imports/999999")
    assert response.status_code == 404
    Problem.model_validate(response.json())


@pytest.mark.parametrize(("method", "path"), [("POST", "/api/v1/imports"), ("GET", "/api/v1/imports/1")])
async def test_imports_need_a_bearer_token(anon: httpx.AsyncClient, method: str, path: str) -> None:
    response = await anon.request(method, path, json=import_body(1, "anonymous") if method == "POST" else None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_too_many_items_without_a_token_is_401_not_422(small_limit_app: FastAPI) -> None:
    async with small_limit_app.router.lifespan_context(small_limit_app):
        transport = httpx.ASGITransport(app=small_limit_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            response = await client.post("/api/v1/imports", json=import_body(SMALL_LIMIT + 1, "anonymous"))
    assert response.status_code == 401


async def test_post_import_is_503_and_leaves_no_job_while_redis_is_down(
    client: httpx.AsyncClient, redis_server: RedisServer, mariadb: MariaDB
) -> None:
    redis_server.stop()
    response = await client.post("/api/v1/imports", json=import_body(2, "outage"))
    assert response.status_code == 503
    assert response.json() == {"detail": "task queue unavailable"}
    assert int(response.headers["retry-after"]) > 0
    assert jobs(mariadb) == {}  # rolled back: no job queued that no task would run


async def test_imports_are_accepted_again_once_redis_is_back(
    client: httpx.AsyncClient, redis_server: RedisServer, mariadb: MariaDB
) -> None:
    before = await client.post("/api/v1/imports", json=import_body(1, "before"))
    redis_server.stop()
    during = await client.post("/api/v1/imports", json=import_body(1, "during"))
    redis_server.start()
    after = await client.post("/api/v1/imports", json=import_body(1, "after"))
    assert (before.status_code, during.status_code, after.status_code) == (202, 503, 202)
    assert set(jobs(mariadb)) == {before.json()["id"], after.json()["id"]}
