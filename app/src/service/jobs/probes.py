"""``python -m service worker-alive`` and ``worker-ready``: the worker's Kubernetes exec probes.

Neither imports Celery (a probe runs every few seconds and must be quick); each returns a reason
to print when it fails.
"""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from service.config import Settings
from service.jobs.heartbeat import heartbeat_age

# Readiness: the broker must answer a PING within this.
BROKER_PING_TIMEOUT_SECONDS = 1.0


def worker_alive(settings: Settings) -> str | None:
    """None when the heartbeat file is fresh; else why not."""
    age = heartbeat_age(settings.worker_heartbeat_file)
    if age is None:
        return "no heartbeat file"
    if age > settings.worker_heartbeat_max_age_seconds:
        return f"heartbeat {age:.0f} s old (max {settings.worker_heartbeat_max_age_seconds} s)"
    return None


def broker_ready(settings: Settings) -> str | None:
    """None when the broker's Redis database answers a PING; else why not."""
    client = redis.Redis(
        host=settings.redis_host,
        port=settings.redis_port,
        db=settings.celery_broker_db,
        password=settings.redis_password.get_secret_value() or None,
        socket_timeout=BROKER_PING_TIMEOUT_SECONDS,
        socket_connect_timeout=BROKER_PING_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"broker unreachable ({type(exc).__name__})"
    finally:
        client.close()
    return None
