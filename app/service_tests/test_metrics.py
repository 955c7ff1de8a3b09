from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from service.api import health, items
from service_tests.api import route_of
from service_tests.prometheus import sample
from service_tests.testbed import redis_client
from testservers import RedisServer

# What README promises of X-Request-ID: a caller's id is kept only if it is this harmless in a log line.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def route_labels(text: str) -> set[str]:
    return set(re.findall(r'^http_requests_total\{[^}]*route="([^"]*)"', text, re.MULTILINE))


async def test_metrics_count_requests_by_route_template(app: FastAPI, client: httpx.AsyncClient) -> None:
    template = route_of(app, items.get_item).path
    before = sample((await client.get("/metrics")).text, "http_requests_total", route=template, status="404")
    await client.get("/api/v1/items/424242")
    after = sample((await client.get("/metrics")).text, "http_requests_total", route=template, status="404")
    assert after == before + 1


async def test_unmatched_paths_share_one_route_label(app: FastAPI, client: httpx.AsyncClient) -> None:
    await client.get("/metrics")
    before = route_labels((await client.get("/metrics")).text)
    scanned = [f"/no/such/path-{i}" for i in range(3)]
    for path in scanned:
        await client.get(path)
    text = (await client.get("/metrics")).text
    new_labels = route_labels(text) - before
    templates = {getattr(route, "path", "") for route in app.routes}
    # Three unknown paths add at most one label, and it is no path a caller chose.
    assert len(new_labels - templates) <= 1
    assert not any(path in text for path in scanned)


async def test_metrics_expose_a_latency_histogram(app: FastAPI, client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    text = (await client.get("/metrics")).text
    template = route_of(app, health.healthz).path
    assert re.search(rf'http_request_duration_seconds_bucket\{{.*route="{re.escape(template)}"', text)


async def test_metrics_report_redis_down(client: httpx.AsyncClient, redis_server: RedisServer) -> None:
    redis_server.stop()
    text = (await client.get("/metrics")).text
    assert (sample(text, "service_database_up"), sample(text, "service_redis_up")) == (1.0, 0.0)


async def test_metrics_report_database_and_redis_up(client: httpx.AsyncClient, redis_server: RedisServer) -> None:
    with redis_client(redis_server) as r:
        assert r.ping()
    text = (await client.get("/metrics")).text
    assert (sample(text, "service_database_up"), sample(text, "service_redis_up")) == (1.0, 1.0)


async def test_request_id_is_echoed_when_valid(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


async def test_request_id_is_replaced_when_unsafe(anon: httpx.AsyncClient) -> None:
    unsafe = "bad id\twith spaces"
    response = await anon.get("/healthz", headers={"X-Request-ID": unsafe})
    assert response.headers["x-request-id"] != unsafe
    assert SAFE_REQUEST_ID.fullmatch(response.headers["x-request-id"])


async def test_request_id_is_generated_when_missing_and_differs_per_request(anon: httpx.AsyncClient) -> None:
    ids = {(await anon.get("/healthz")).headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(SAFE_REQUEST_ID.fullmatch(request_id) for request_id in ids)
