"""Tracing with OpenTelemetry, configured only by the standard ``OTEL_*`` variables (the stack's
``tracing`` settings become them).

Off unless an OTLP endpoint is named (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_ENDPOINT``) and ``OTEL_SDK_DISABLED`` is not ``true``. Off, this module imports
nothing of the SDK and the request path is the one without tracing: FastAPI's own telemetry stays
disabled, the cache talks to its plain client, no SQL or Celery hook is installed.

On, one tracer provider per process, whose resource (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``), sampler (``OTEL_TRACES_SAMPLER``, ``OTEL_TRACES_SAMPLER_ARG``) and
OTLP/HTTP exporter (``OTEL_EXPORTER_OTLP_*``: endpoint, headers, timeout) are the SDK's reading of
the environment. A request gets FastAPI's server span; its SQL, SQLAlchemy's spans; its cache
commands, spans of the cache's own client (which no instrumentation knows); an import it queues,
Celery's publish span, whose context travels in the task's headers, so the worker's spans for that
import continue the request's trace. Probes and scrapes (``/healthz``, ``/readyz``, ``/metrics``)
make no span: they would outnumber the requests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from service.redis_client import RedisClient

if TYPE_CHECKING:
    from fastapi.telemetry import TelemetryConfig
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer
    from sqlalchemy import Engine

# Paths that never make a span (FastAPI's telemetry skips them).
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

_provider: TracerProvider | None = None


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """What the standard variables say: an OTLP endpoint is named and the SDK is not disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() != "otlp":
        return False  # "none", or an exporter this image does not ship
    return bool(environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def start(default_service_name: str) -> TracerProvider | None:
    """The process's tracer provider, set up on first call when tracing is on; None when it is off."""
    global _provider  # one per process, as OpenTelemetry's own global provider is
    if _provider is not None or not enabled():
        return _provider
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME wins; the default only names a process the stack did not name.
    resource = Resource.create({} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: default_service_name})
    provider = TracerProvider(resource=resource)
    # The batch processor exports off the request path; it restarts its thread in a forked child
    # (the worker's prefork pool), so one provider set up before the fork serves every process.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    # Celery's signals are process-wide: the API's publishes and the worker's runs, both.
    CeleryInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    _provider = provider
    return provider


def flush() -> None:
    """Export what is still buffered (before a process ends: the batch waits up to 5 s)."""
    if _provider is not None:
        _provider.force_flush()


def fastapi_telemetry(provider: TracerProvider | None) -> TelemetryConfig:
    """FastAPI's native telemetry: server spans on this provider, or nothing at all."""
    return {
        "tracing": provider is not None,
        "tracer_provider": provider,
        # Prometheus has the metrics and the JSON logs the errors: neither twice.
        "metrics": False,
        "logs": False,
        # One span per request, not one per dependency and serialisation step.
        "operation_spans": False,
        "exclude": _untraced,
    }


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in UNTRACED_PATHS


def instrument_engine(engine: Engine) -> None:
    """Spans for this engine's SQL, when tracing is on (one engine per process: the API's, or a worker process's)."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()  # an engine of an earlier lifespan in this process (tests)
    # The instrumentation declares SQLAlchemy < 2.1 and would otherwise do nothing on 2.1; the event
    # API it hooks is unchanged in 2.1 (service_tests/test_tracing.py reads the SQL spans it makes).
    instrumentor.instrument(engine=engine, tracer_provider=_provider, skip_dep_check=True)


def redis_client(host: str, port: int, *, db: int, password: str | None, timeout: float) -> RedisClient:
    """The cache's client: traced when tracing is on."""
    if _provider is None:
        return RedisClient(host, port, db=db, password=password, timeout=timeout)
    tracer = _provider.get_tracer("service.cache")
    return TracedRedisClient(host, port, db=db, password=password, timeout=timeout, tracer=tracer)


class TracedRedisClient(RedisClient):
    """The cache's commands as CLIENT spans (database semantic conventions). PING is left out: only
    the readiness probe sends it, and probes make no span."""

    def __init__(self, host: str, port: int, *, db: int, password: str | None, timeout: float, tracer: Tracer) -> None:
        super().__init__(host, port, db=db, password=password, timeout=timeout)
        self._tracer = tracer
        self._attributes: dict[str, str | int] = {
            "db.system.name": "redis",
            "db.namespace": str(db),
            "server.address": host,
            "server.port": port,
        }

    @contextmanager
    def _span(self, operation: str) -> Iterator[None]:
        from opentelemetry.trace import SpanKind

        with self._tracer.start_as_current_span(
            operation, kind=SpanKind.CLIENT, attributes={**self._attributes, "db.operation.name": operation}
        ):
            yield

    async def get(self, key: str) -> bytes | None:
        with self._span("GET"):
            return await super().get(key)

    async def set(self, key: str, value: bytes, *, ex: int) -> None:
        with self._span("SET"):
            await super().set(key, value, ex=ex)

    async def delete(self, key: str) -> None:
        with self._span("DEL"):
            await super().delete(key)
