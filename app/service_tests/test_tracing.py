"""Tracing: off unless the standard OTEL_* variables name an endpoint; on, the real service and the
real worker export over OTLP/HTTP to a receiver (service_tests/otlp_receiver.py), and a request and
the import it queued are one trace across both processes. Probes and scrapes make no span."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service import tracing
from service_tests.import_jobs import import_body
from service_tests.otlp_receiver import OtlpReceiver, ReceivedSpan, otlp_receiver
from service_tests.process import running_service
from service_tests.testbed import API_KEY
from service_tests.worker_process import running_worker
from testservers import MariaDB, RedisServer

SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5  # opentelemetry.proto.trace.v1.Span.SpanKind
ENDPOINT = "http://collector:4318"


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ENDPOINT + "/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT, "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT, "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT, "OTEL_TRACES_EXPORTER": "zipkin"}, False),  # not in the image
        ({"OTEL_SERVICE_NAME": "api"}, False),  # a name is no endpoint
    ],
)
def test_tracing_is_on_only_when_an_otlp_endpoint_is_named_and_the_sdk_is_not_disabled(
    environ: dict[str, str], on: bool
) -> None:
    assert tracing.enabled(environ) is on


def test_with_tracing_off_the_service_imports_nothing_of_the_sdk() -> None:
    probe = (
        "import sys, service.main, service.jobs.worker\n"
        "print(sorted(name for name, module in sys.modules.items() if name.startswith('opentelemetry.sdk') and module))"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60, check=True
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as running:
        yield running


def otel_settings(receiver: OtlpReceiver, service: str) -> dict[str, str]:
    """What the stack sets when tracing is on (components/app/runtime.py), pointed at the receiver."""
    return {
        "otel_service_name": service,
        "otel_exporter_otlp_endpoint": receiver.endpoint,
        "otel_exporter_otlp_protocol": "http/protobuf",
        "otel_traces_sampler": "parentbased_always_on",
        "otel_resource_attributes": "deployment.environment.name=test",
        "otel_bsp_schedule_delay": "200",  # ms: the test waits less for a batch
    }


def by_trace(spans: list[ReceivedSpan], trace_id: str) -> list[ReceivedSpan]:
    return [span for span in spans if span.trace_id == trace_id]


def trace_of_request(spans: list[ReceivedSpan], request: str) -> list[ReceivedSpan]:
    """The spans of the trace whose server span is `request` (a method and a path prefix)."""
    return by_trace(spans, next(s.trace_id for s in spans if s.kind == SERVER and s.name.startswith(request)))


def is_sql(span: ReceivedSpan) -> bool:
    return span.kind == CLIENT and span.attributes.get("db.system") in {"mysql", "mariadb"}


def test_a_request_and_the_import_it_queues_are_one_trace_across_the_api_and_the_worker(
    mariadb: MariaDB, redis_server: RedisServer, clean_state: None, receiver: OtlpReceiver, tmp_path: Path
) -> None:
    with (
        running_worker(mariadb, redis_server, tmp_path, **otel_settings(receiver, "test-worker")),
        running_service(mariadb, redis_server, tmp_path, **otel_settings(receiver, "test-api")) as service,
        httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10) as api,
    ):
        for probe in ("/healthz", "/readyz", "/metrics"):
            assert api.get(probe).status_code == 200
        created = api.post("/api/v1/items", json={"name": "traced"})
        assert created.status_code == 201, created.text
        item = created.json()["id"]
        assert api.get(f"/api/v1/items/{item}").status_code == 200  # a hit: the create wrote it through
        queued = api.post("/api/v1/imports", json=import_body(20, "traced-import"))
        assert queued.status_code == 202, queued.text
        request_trace = queued.headers.get("traceparent", "")

        def import_finished(spans: list[ReceivedSpan]) -> bool:
            return any(s.service == "test-worker" and s.kind == CONSUMER for s in spans)

        spans = receiver.wait_for(import_finished)

    servers = {span.attributes.get("http.route") or span.name: span for span in spans if span.kind == SERVER}
    assert not [name for name in servers if any(probe in name for probe in ("healthz", "readyz", "metrics"))], servers
    post_import = next(span for span in spans if span.kind == SERVER and span.name.startswith("POST /api/v1/imports"))
    one_trace = by_trace(spans, post_import.trace_id)
    publishes = [s for s in one_trace if s.service == "test-api" and s.kind == PRODUCER]
    runs = [s for s in one_trace if s.service == "test-worker" and s.kind == CONSUMER]
    worker_sql = [
        s for s in one_trace if s.service == "test-worker" and s.attributes.get("db.system") in {"mysql", "mariadb"}
    ]
    assert publishes and runs, [(s.service, s.name, s.kind) for s in one_trace]
    assert runs[0].parent_span_id == publishes[0].span_id  # the worker's run continues the API's publish
    assert worker_sql, "the import's inserts made no SQL span in the request's trace"
    assert request_trace == "" or post_import.trace_id in request_trace

    create = by_trace(
        spans, next(s.trace_id for s in spans if s.kind == SERVER and s.name.startswith("POST /api/v1/items"))
    )
    read = by_trace(
        spans, next(s.trace_id for s in spans if s.kind == SERVER and s.name.startswith("GET /api/v1/items/"))
    )
    assert any(s.kind == CLIENT and s.attributes.get("db.system") in {"mysql", "mariadb"} for s in create)
    assert [s.name for s in create if s.attributes.get("db.system.name") == "redis"] == ["SET"]
    assert [s.name for s in read if s.attributes.get("db.system.name") == "redis"] == ["GET"]
    assert {s.service for s in spans} == {"test-api", "test-worker"}
