"""FastAPI backend on MySQL and Redis."""

import sys as _sys

from service import tracing as _tracing

__version__ = "0.1.0"

# redis-py (kombu's Redis transport: the API's publisher, the worker's broker) looks for
# OpenTelemetry's metrics SDK when it is imported, and loads it if installed
# (redis/observability/providers.py): tens of milliseconds of every start, for redis-py metrics this
# service never turns on. The SDK is in the image for tracing only; with tracing off, redis-py finds
# it absent and nothing of it is loaded (service_tests/test_tracing.py).
if not _tracing.enabled():
    _sys.modules.setdefault("opentelemetry.sdk.metrics", None)  # type: ignore[arg-type]
