"""Shared request dependencies, as typed ``Annotated`` aliases, and the API's one bearer-token parser.

All are ``async def`` although none awaits: FastAPI runs a plain ``def``
dependency in the thread pool, which cut cached reads to a fifth of the
throughput.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service.cache import Cache
from service.jobs.publisher import TaskQueue
from service.security import ApiKeyStore

# Reads `Authorization: Bearer <key>` (None when absent or another scheme) and declares the
# scheme in the OpenAPI document. CachedItemReadMiddleware calls it too: one parser for both.
bearer_token = HTTPBearer(
    scheme_name="ApiKey", description="One of the service's API keys (API_KEYS).", auto_error=False
)
BearerToken = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_token)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with maker() as session:
        yield session


async def get_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


async def get_cache(request: Request) -> Cache:
    cache: Cache = request.app.state.cache
    return cache


async def get_task_queue(request: Request) -> TaskQueue:
    queue: TaskQueue = request.app.state.task_queue
    return queue


async def require_api_key(request: Request, token: BearerToken) -> None:
    if token is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
        )
    store: ApiKeyStore = request.app.state.api_keys
    if not store.is_valid(token.credentials):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="invalid bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'},
        )


SessionDep = Annotated[AsyncSession, Depends(get_session)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
CacheDep = Annotated[Cache, Depends(get_cache)]
TaskQueueDep = Annotated[TaskQueue, Depends(get_task_queue)]
ApiKey = Depends(require_api_key)
