"""Probes and metrics: open to kubelets and scrapers, no API key."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from service import metrics
from service.cache import Cache
from service.db import ping_database
from service.schemas import Checks, Readiness

router = APIRouter(tags=["probes"])

PROBE_TIMEOUT_SECONDS = 1.0


async def check_dependencies(request: Request) -> tuple[bool, bool]:
    cache: Cache = request.app.state.cache
    db_ok, redis_ok = await asyncio.gather(
        ping_database(request.app.state.engine, PROBE_TIMEOUT_SECONDS),
        cache.ping(PROBE_TIMEOUT_SECONDS),
    )
    metrics.DB_UP.set(1 if db_ok else 0)
    metrics.REDIS_UP.set(1 if redis_ok else 0)
    return db_ok, redis_ok


_HEALTHZ_BODY = b'{"status":"ok"}'


@router.get("/healthz", response_model=dict[str, str])
async def healthz() -> Response:
    """Liveness: the process answers. Touches no dependency, so an outage never restarts pods."""
    # Pre-serialized: the same bytes FastAPI would render for {"status": "ok"}, without validation.
    return Response(_HEALTHZ_BODY, media_type="application/json")


@router.get(
    "/readyz", response_model=Readiness, responses={503: {"model": Readiness, "description": "database unreachable"}}
)
async def readyz(request: Request) -> JSONResponse:
    """Readiness: 200 while the database answers; Redis down only degrades (reads go to the DB)."""
    db_ok, redis_ok = await check_dependencies(request)
    readiness = Readiness(
        status="ok" if db_ok and redis_ok else ("degraded" if db_ok else "unavailable"),
        checks=Checks(database="ok" if db_ok else "unavailable", redis="ok" if redis_ok else "unavailable"),
    )
    return JSONResponse(readiness.model_dump(), status_code=200 if db_ok else 503)


@router.get("/metrics", response_class=PlainTextResponse)
async def prometheus_metrics(request: Request) -> Response:
    await check_dependencies(request)
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)
