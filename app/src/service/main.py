"""The ASGI app (``service.main:app``) and its lifespan.

The app is built at import without reading settings, so ``app.routes`` can be
inspected with no environment; settings are loaded when the lifespan starts.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.lowlevel
import sqlalchemy.exc
from fastapi import FastAPI, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import configure_mappers

from service import __version__, tracing
from service.api import docs, health, imports, items
from service.cache import Cache, create_redis
from service.config import Settings, get_settings
from service.db import WARM_UP_ATTEMPTS, create_engine, create_sessionmaker, warm_up
from service.errors import database_unavailable, method_not_allowed, queue_unavailable, validation_failed
from service.jobs.celery_app import create_celery
from service.jobs.publisher import QueueUnavailableError, TaskQueue
from service.logs import redactor
from service.middleware import RequestContextMiddleware, SettingsCORSMiddleware
from service.security import ApiKeyStore

log = logging.getLogger("service")

# The log messages that mark the lifespan's ends (operators and the tests look for them).
STARTING_MESSAGE = "service starting"
STOPPED_MESSAGE = "service stopped"
DATABASE_UNREACHABLE_AT_START = "database unreachable at start; serving 503s until it answers"
# The API's name in traces when OTEL_SERVICE_NAME does not give one.
TRACED_SERVICE_NAME = "fastapi-service-api"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings_override or get_settings()
    # Each uvicorn worker process runs this, so the redactor is set in every one.
    redactor.set_secrets(settings.secret_values())
    engine = create_engine(settings)
    tracing.instrument_engine(engine.sync_engine)
    redis = create_redis(settings)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.cache = Cache(redis, settings.cache_ttl_seconds)
    # Publishes tasks for the worker, connected to the broker from the start (prepare).
    task_queue = TaskQueue(create_celery(settings, result_backend=False))
    # In a thread, as every publish: this also starts the loop's thread pool before any request needs it.
    await asyncio.to_thread(task_queue.prepare)
    app.state.task_queue = task_queue
    # What the first requests would otherwise do on their time: anyio loads its asyncio backend on
    # first use (FastAPI's dependencies with yield: 12 ms), SQLAlchemy configures the mappers on the
    # first ORM query.
    await anyio.lowlevel.checkpoint()
    configure_mappers()
    app.state.api_keys = ApiKeyStore.from_settings(settings)
    # The first request finds a pooled connection (TCP and MySQL's handshake: the slowest part of a
    # new pod's first request; a NetworkPolicy agent may drop a brand-new pod's first packets).
    if not await warm_up(engine, settings.db_connect_timeout):
        log.warning(DATABASE_UNREACHABLE_AT_START, extra={"attempts": WARM_UP_ATTEMPTS})
    log.info(
        STARTING_MESSAGE,
        extra={
            "app_env": settings.app_env,
            "database": engine.url.render_as_string(hide_password=True),
            "redis": f"{settings.redis_host}:{settings.redis_port}/{settings.redis_db}",
            "api_key_count": len(settings.api_key_list),
        },
    )
    # Everything imported and built so far lives as long as the process: move it out of the
    # collector's generations so collections under load only scan per-request objects
    # (bench: /healthz at 64 connections 0.80x -> 0.86x of the baseline, medians of 3).
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        task_queue.close()
        await redis.aclose()
        await engine.dispose()
        tracing.flush()
        gc.unfreeze()  # a process that runs several lifespans (tests) keeps nothing frozen for good
        log.info(STOPPED_MESSAGE)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; ``settings`` overrides the environment (tests)."""
    app = FastAPI(
        title="service",
        version=__version__,
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry: server spans when the OTEL_* variables turn tracing on, else
        # nothing at all (not even a provider check per request). Metrics are Prometheus's.
        telemetry=tracing.fastapi_telemetry(tracing.start(TRACED_SERVICE_NAME)),
        # Served by service.api.docs, which asks the settings first: prod never exposes them.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        exception_handlers={
            RequestValidationError: validation_failed,
            status.HTTP_405_METHOD_NOT_ALLOWED: method_not_allowed,
            # Only the errors that mean "unreachable" become a 503; the handler re-raises the rest.
            sqlalchemy.exc.DBAPIError: database_unavailable,
            sqlalchemy.exc.TimeoutError: database_unavailable,
            QueueUnavailableError: queue_unavailable,
        },
    )
    app.state.settings_override = settings
    # Flattened rather than include_router(): FastAPI >= 0.16x wraps included
    # routers, and the infra tests read probe paths straight from app.routes.
    # The routers' own prefix and dependencies are already applied to each route.
    for router in (health.router, items.router, imports.router, docs.router):
        app.router.routes.extend(router.routes)

    # Last added runs first: request id/metrics/500s wrap everything, including CORS.
    app.add_middleware(SettingsCORSMiddleware)
    app.add_middleware(RequestContextMiddleware)
    return app


app = create_app()
