from __future__ import annotations

import re

import httpx

from tests.servers import RedisServer


def sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    before = sample(
        (await client.get("/metrics")).text, "http_requests_total", route="/api/v1/items/{item_id}", status="404"
    )
    await client.get("/api/v1/items/424242")
    after = sample(
        (await client.get("/metrics")).text, "http_requests_total", route="/api/v1/items/{item_id}", status="404"
    )
    assert after == before + 1


async def test_unmatched_paths_share_one_route_label(client: httpx.AsyncClient) -> None:
    await client.get("/no/such/path")
    text = (await client.get("/metrics")).text
    assert sample(text, "http_requests_total", route="unmatched", status="404") >= 1
    assert "/no/such/path" not in text


async def test_metrics_expose_a_latency_histogram(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    text = (await client.get("/metrics")).text
    assert re.search(r'http_request_duration_seconds_bucket\{.*le="0.005".*route="/healthz"', text)


async def test_metrics_report_redis_down(client: httpx.AsyncClient, redis_server: RedisServer) -> None:
    redis_server.stop()
    text = (await client.get("/metrics")).text
    assert (sample(text, "service_database_up"), sample(text, "service_redis_up")) == (1.0, 0.0)


async def test_request_id_is_echoed_when_valid(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


async def test_request_id_is_generated_when_missing_or_unsafe(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
