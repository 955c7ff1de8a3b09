"""/api/v1/imports: bulk imports, run by the worker.

POST stores the job and queues its task in one step: the job's row is inserted, the task
published, and only then is the row committed. A publish that fails rolls the row back (503: no
job is left queued that no task will run); a task that starts before the commit waits for it on
the row's lock (service/jobs/imports.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select
from sqlalchemy.orm import defer

from service.api.routing import JsonBodyRoute
from service.config import Settings
from service.deps import ApiKey, SessionDep, TaskQueueDep
from service.models import ImportJob
from service.schemas import MAX_ITEM_ID, ImportAccepted, ImportIn, ImportOut, Problem

router = APIRouter(
    prefix="/api/v1/imports",
    tags=["imports"],
    dependencies=[ApiKey],
    route_class=JsonBodyRoute,
    responses={401: {"model": Problem}, 503: {"model": Problem}},
)

ImportId = Annotated[int, Path(ge=1, le=MAX_ITEM_ID)]  # a BIGINT, as the items' ids


async def within_size_limit(request: Request) -> None:
    """422 for more than IMPORT_MAX_ITEMS items, before a single one is validated.

    The body is already parsed (FastAPI reads it before the dependencies run) and authenticated
    (the router's dependency runs first). Too many items is a field error like any other, in
    pydantic's own words: 422, not 413, which is about bytes rather than what they say.
    """
    settings: Settings = request.app.state.settings
    try:
        body: Any = await request.json()
    except ValueError:
        return  # not JSON: the body's validation says so
    items = body.get("items") if isinstance(body, dict) else None
    limit = settings.import_max_items
    if isinstance(items, list) and len(items) > limit:
        raise RequestValidationError(
            [
                {
                    "type": "too_long",
                    "loc": ("body", "items"),
                    "msg": f"List should have at most {limit} items after validation, not {len(items)}",
                    "ctx": {"field_type": "List", "max_length": limit, "actual_length": len(items)},
                }
            ]
        )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportAccepted,
    dependencies=[Depends(within_size_limit)],
    responses={202: {"headers": {"Location": {"description": "the job", "schema": {"type": "string"}}}}},
)
async def create_import(body: ImportIn, request: Request, session: SessionDep, queue: TaskQueueDep) -> Response:
    job = ImportJob(state="queued", total=len(body.items), items=[item.model_dump() for item in body.items], errors=[])
    session.add(job)
    await session.flush()  # the job's id; the row stays uncommitted until the task is queued
    await queue.enqueue_import(job.id)  # QueueUnavailableError: 503, and the session rolls back
    await session.commit()
    accepted = ImportAccepted(id=job.id, state="queued", total=job.total)
    return Response(
        accepted.model_dump_json(),
        status_code=status.HTTP_202_ACCEPTED,
        media_type="application/json",
        headers={"Location": str(request.url_for("get_import", import_id=job.id))},
    )


@router.get("/{import_id}", response_model=ImportOut, responses={404: {"model": Problem}})
async def get_import(import_id: ImportId, session: SessionDep) -> ImportOut:
    job = await session.scalar(select(ImportJob).where(ImportJob.id == import_id).options(defer(ImportJob.items)))
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="import not found")
    return ImportOut.model_validate(job)
