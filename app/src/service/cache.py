"""Cache-aside on Redis that never fails a request, and the answer to an item cache hit.

Every Redis error is logged and treated as a miss, so an outage degrades
reads to the database and lets writes succeed. Staleness after an outage is
bounded by CACHE_TTL_SECONDS (an invalidation that failed during the outage
cannot be replayed).
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.responses import Response

from service import metrics, tracing
from service.config import Settings
from service.redis_client import RedisClient, RedisError

log = logging.getLogger("service.cache")

# Bump when the cached representation changes so old entries are ignored.
KEY_PREFIX = "service:v1:"
# Redis calls are on the request path: fail within this instead of stalling.
REDIS_TIMEOUT_SECONDS = 0.5
# At most one warning per this many seconds while Redis is down.
_WARN_EVERY_SECONDS = 10.0
# Labelled children resolved once, not per request.
CACHE_HIT = metrics.CACHE_REQUESTS.labels("hit")
CACHE_MISS = metrics.CACHE_REQUESTS.labels("miss")
_HIT_HEADERS = {"X-Cache": "hit"}


def create_redis(settings: Settings) -> RedisClient:
    # A failed call is not retried on the request path: the request goes on without the cache.
    return tracing.redis_client(
        settings.redis_host,
        settings.redis_port,
        db=settings.redis_db,
        password=settings.redis_password.get_secret_value() or None,
        timeout=REDIS_TIMEOUT_SECONDS,
    )


class Cache:
    def __init__(self, redis: RedisClient, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl_seconds = ttl_seconds
        self._last_warning = 0.0

    @staticmethod
    def item_key(item_id: int) -> str:
        return f"{KEY_PREFIX}item:{item_id}"

    def _degraded(self, op: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY_SECONDS:
            self._last_warning = now
            log.warning("redis unavailable, serving without cache", extra={"op": op, "error": type(exc).__name__})

    async def get(self, key: str) -> bytes | None:
        try:
            return await self.redis.get(key)
        except (RedisError, OSError, TimeoutError) as exc:
            self._degraded("get", exc)
            return None

    async def set(self, key: str, value: bytes) -> None:
        try:
            await self.redis.set(key, value, ex=self.ttl_seconds)
        except (RedisError, OSError, TimeoutError) as exc:
            self._degraded("set", exc)

    async def delete(self, key: str) -> None:
        try:
            await self.redis.delete(key)
        except (RedisError, OSError, TimeoutError) as exc:
            self._degraded("delete", exc)

    async def ping(self, within: float) -> bool:
        try:
            async with asyncio.timeout(within):
                return await self.redis.ping()
        except Exception:  # any failure means "not reachable" to a probe
            return False


async def cached_item_response(cache: Cache, item_id: int) -> Response | None:
    """The answer to a cache hit on item ``item_id``, or None on a miss.

    The cached value is already a serialized ItemOut: no session, no validation.
    """
    cached = await cache.get(Cache.item_key(item_id))
    if cached is None:
        return None
    CACHE_HIT.inc()
    return Response(cached, media_type="application/json", headers=_HIT_HEADERS)
