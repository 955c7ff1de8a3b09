"""/api/v1/items: CRUD with cache-aside reads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.api.routing import JsonBodyRoute
from service.cache import CACHE_MISS, Cache, cached_item_response
from service.deps import ApiKey, CacheDep, SessionDep
from service.models import Item
from service.schemas import (
    DEFAULT_PAGE_SIZE,
    MAX_ITEM_ID,
    MAX_OFFSET,
    MAX_PAGE_SIZE,
    ItemIn,
    ItemOut,
    ItemPage,
    ItemPatch,
    Problem,
)

router = APIRouter(
    prefix="/api/v1/items",
    tags=["items"],
    dependencies=[ApiKey],
    route_class=JsonBodyRoute,
    responses={401: {"model": Problem}, 503: {"model": Problem}},
)

ItemId = Annotated[int, Path(ge=1, le=MAX_ITEM_ID)]
JSON = "application/json"
_MISS_HEADERS = {"X-Cache": "miss"}


def _serialize(item: Item) -> bytes:
    return ItemOut.model_validate(item).model_dump_json().encode()


async def _load(session: AsyncSession, item_id: int) -> Item:
    item = await session.get(Item, item_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="item not found")
    return item


@router.get("", response_model=ItemPage)
async def list_items(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"page size, at most {MAX_PAGE_SIZE}")] = (
        DEFAULT_PAGE_SIZE
    ),
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ItemPage:
    total = await session.scalar(select(func.count()).select_from(Item)) or 0
    rows = await session.scalars(select(Item).order_by(Item.id).limit(limit).offset(offset))
    return ItemPage(items=[ItemOut.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ItemOut)
async def create_item(body: ItemIn, session: SessionDep, cache: CacheDep) -> Response:
    item = Item(**body.model_dump())
    session.add(item)
    await session.commit()
    payload = _serialize(item)
    # Write-through on create: the first read is already a hit.
    await cache.set(Cache.item_key(item.id), payload)
    return Response(payload, status_code=status.HTTP_201_CREATED, media_type=JSON)


@router.get("/{item_id}", response_model=ItemOut, responses={404: {"model": Problem}})
async def get_item(item_id: ItemId, request: Request, cache: CacheDep) -> Response:
    hit = await cached_item_response(cache, item_id)
    if hit is not None:
        return hit
    CACHE_MISS.inc()
    # The session (and a pooled connection) is only opened on a miss.
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with maker() as session:
        payload = _serialize(await _load(session, item_id))
    await cache.set(Cache.item_key(item_id), payload)
    return Response(payload, media_type=JSON, headers=_MISS_HEADERS)


@router.put("/{item_id}", response_model=ItemOut, responses={404: {"model": Problem}})
async def replace_item(item_id: ItemId, body: ItemIn, session: SessionDep, cache: CacheDep) -> Response:
    item = await _load(session, item_id)
    for field, value in body.model_dump().items():
        setattr(item, field, value)
    return await _save(item, session, cache)


@router.patch("/{item_id}", response_model=ItemOut, responses={404: {"model": Problem}})
async def update_item(item_id: ItemId, body: ItemPatch, session: SessionDep, cache: CacheDep) -> Response:
    item = await _load(session, item_id)
    for field, value in body.changes().items():
        setattr(item, field, value)
    return await _save(item, session, cache)


async def _save(item: Item, session: AsyncSession, cache: Cache) -> Response:
    await session.commit()
    # Invalidate after the commit: a read between commit and delete may see the
    # old value, never a value that was rolled back.
    await cache.delete(Cache.item_key(item.id))
    return Response(_serialize(item), media_type=JSON)


@router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT, responses={404: {"model": Problem}})
async def delete_item(item_id: ItemId, session: SessionDep, cache: CacheDep) -> Response:
    item = await _load(session, item_id)
    await session.delete(item)
    await session.commit()
    await cache.delete(Cache.item_key(item_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
