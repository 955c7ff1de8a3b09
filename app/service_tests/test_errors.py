"""How failures are answered: what the caller sent wrong is a 4xx with field errors, a method the
path lacks a 405 naming those it has, an unreachable database a 503, and a bug a 500 that carries
the request id and is logged once."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator

import httpx
import pymysql
import pytest
import sqlalchemy.exc
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

from service.db import is_unreachable
from service.logs import JsonFormatter
from service.middleware import RequestContextMiddleware
from service_tests.testbed import TEST_DB, database
from testservers import MariaDB

JSON = {"Content-Type": "application/json"}


async def test_a_body_that_is_not_utf8_is_a_422_field_error(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/items", content=b'{"name": "caf\xe9"}', headers=JSON)
    assert response.status_code == 422
    assert [error["loc"][0] for error in response.json()["detail"]] == ["body"]


async def test_json_nested_past_the_parsers_limit_is_a_422_field_error(client: httpx.AsyncClient) -> None:
    depth = sys.getrecursionlimit() + 100
    response = await client.post("/api/v1/items", content=b"[" * depth + b"]" * depth, headers=JSON)
    assert response.status_code == 422
    assert [error["loc"][0] for error in response.json()["detail"]] == ["body"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"name": "\\ud800"}', "application/json"),
        (b'{"name": "x", "\\udfff": 1}', "application/json"),
        (b'{"name": "x", "quantity": NaN}', "application/json"),
        (b'{"name": "x", "quantity": -Infinity}', "application/json"),
        (b'{"name": "\xff\xfe"}', "text/plain"),
    ],
    ids=["lone-surrogate-in-a-value", "lone-surrogate-in-a-key", "nan", "infinity", "non-utf8-text-body"],
)
async def test_a_422_renders_whatever_input_it_echoes(
    client: httpx.AsyncClient, body: bytes, content_type: str
) -> None:
    response = await client.post("/api/v1/items", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 422
    assert response.headers["x-request-id"]
    detail = json.loads(response.content.decode("utf-8"))["detail"]  # strict UTF-8, standard JSON
    assert detail and all(error["loc"][0] == "body" for error in detail)


def _concrete(path_format: str) -> str:
    return path_format.replace("{item_id}", "1")


def _methods_by_path(app: FastAPI) -> dict[str, set[str]]:
    methods: dict[str, set[str]] = {}
    for route in app.routes:
        if isinstance(route, APIRoute):
            methods.setdefault(route.path_format, set()).update(route.methods or ())
    return methods


async def test_a_method_the_path_lacks_is_405_naming_every_method_it_has(app: FastAPI, anon: httpx.AsyncClient) -> None:
    for path, methods in _methods_by_path(app).items():
        response = await anon.options(_concrete(path))
        assert response.status_code == 405, path
        assert set(response.headers["allow"].split(", ")) == methods, path


def _failed(kind: type[sqlalchemy.exc.DBAPIError], driver_error: pymysql.err.MySQLError) -> Exception:
    return kind("SELECT 1", None, driver_error)


@pytest.mark.parametrize(
    ("error", "unreachable"),
    [
        (_failed(sqlalchemy.exc.OperationalError, pymysql.err.OperationalError(2003, "can't connect")), True),
        (_failed(sqlalchemy.exc.OperationalError, pymysql.err.OperationalError(2013, "lost connection")), True),
        (_failed(sqlalchemy.exc.OperationalError, pymysql.err.OperationalError(1040, "too many")), True),
        (_failed(sqlalchemy.exc.InterfaceError, pymysql.err.InterfaceError(0, "")), True),
        (sqlalchemy.exc.TimeoutError("QueuePool limit reached"), True),
        (_failed(sqlalchemy.exc.IntegrityError, pymysql.err.IntegrityError(1062, "duplicate")), False),
        (_failed(sqlalchemy.exc.ProgrammingError, pymysql.err.ProgrammingError(1146, "no such table")), False),
        (_failed(sqlalchemy.exc.OperationalError, pymysql.err.OperationalError(1205, "lock wait timeout")), False),
        (_failed(sqlalchemy.exc.DataError, pymysql.err.DataError(1406, "data too long")), False),
        (ValueError("not a database error"), False),
    ],
    ids=[
        "cannot-connect",
        "connection-lost",
        "too-many-connections",
        "connection-closed",
        "no-pooled-connection-in-time",
        "duplicate-key",
        "unknown-table",
        "lock-wait-timeout",
        "value-too-long",
        "not-from-the-database",
    ],
)
def test_only_errors_that_mean_the_database_cannot_be_used_count_as_unreachable(
    error: Exception, unreachable: bool
) -> None:
    assert is_unreachable(error) is unreachable


@pytest.fixture
def items_table_missing(mariadb: MariaDB, clean_state: None) -> Iterator[None]:
    """A database the migration has not reached: the server answers, the statement fails."""
    with database(mariadb) as conn, conn.cursor() as cur:
        cur.execute(f"RENAME TABLE `{TEST_DB}`.items TO `{TEST_DB}`.items_elsewhere")
    try:
        yield
    finally:
        with database(mariadb) as conn, conn.cursor() as cur:
            cur.execute(f"RENAME TABLE `{TEST_DB}`.items_elsewhere TO `{TEST_DB}`.items")


async def test_a_failing_statement_on_a_reachable_database_is_a_500_not_a_503(
    client: httpx.AsyncClient, items_table_missing: None
) -> None:
    response = await client.get("/api/v1/items", headers={"X-Request-ID": "missing-table"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "missing-table"
    assert "Traceback" not in response.text


async def _broken_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("a bug")


async def test_an_unhandled_error_is_a_500_with_the_request_id_and_one_log_entry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.handler.setFormatter(JsonFormatter())
    # raise_app_exceptions: an error re-raised past the middleware (for uvicorn to log again) fails the call.
    transport = httpx.ASGITransport(app=RequestContextMiddleware(_broken_app), raise_app_exceptions=True)
    with caplog.at_level(logging.ERROR):
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            response = await client.get("/anything", headers={"X-Request-ID": "bug-1"})
    assert (response.status_code, response.headers["x-request-id"]) == (500, "bug-1")
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json()["detail"], str)
    entries = [json.loads(line) for line in caplog.text.splitlines()]
    logged = [entry for entry in entries if "exc_info" in entry]
    assert len(logged) == 1
    assert logged[0]["request_id"] == "bug-1"
