"""The bench's targets, defined here and nowhere else: each one's limit, goal and what it measures.

bench/targets/judge.py holds a run's results against them (the Targets table of results.md,
results.json's "targets"); `python -m bench.targets --write` renders them into README.md.
Standard library only, so any Python 3 renders or checks the README without the app's venv.
"""

from __future__ import annotations

from dataclasses import dataclass

HEALTHZ_MIN_RATIO = 0.8
CACHED_READ_MIN_RATIO = 0.5
COLD_START_MAX_S = 2.0
# Also the drill's GRACEFUL_SHUTDOWN_TIMEOUT: the service must exit within the grace it is given.
SHUTDOWN_GRACE_S = 5
MYSQL_READY_MAX_S = 5.0
IMAGE_WARM_OVER_COLD_MAX = 0.15


@dataclass(frozen=True)
class Target:
    label: str  # "{}" takes a run's qualifier: ", c=16" for a connection count, " (root)" for a variant
    goal: str
    measures: str

    @property
    def name(self) -> str:
        """The label without a qualifier."""
        return self.label.format("")

    def row_label(self, qualifier: str = "") -> str:
        return self.label.format(qualifier)


HEALTHZ = Target(
    "/healthz vs baseline{}",
    f">= {HEALTHZ_MIN_RATIO:g}x",
    "wrk requests/s of the service's `/healthz` over a bare FastAPI `/healthz` on the same uvicorn settings "
    "(`bench/baseline.py`), per connection count; the median of back-to-back ratios",
)
CACHED_READ = Target(
    "cached read vs baseline{}",
    f">= {CACHED_READ_MIN_RATIO:g}x",
    "the same ratio for `GET /api/v1/items/{id}` of an item created through the API (written through, so every read hits Redis)",
)
COLD_START = Target(
    "cold start to /readyz 200 (median)",
    f"<= {COLD_START_MAX_S:g} s",
    "exec of `python -m service` to its first 200 on `/readyz`, median of the runs",
)
# The shutdown drill's variant the targets hold (the others are comparisons).
SHUTDOWN_JUDGED_VARIANT = "graceful"
SHUTDOWN_FAILED = Target(
    "SIGTERM under load{}: failed accepted requests",
    "0",
    "errors and 5xx after a successful connect while client threads create items and call `/healthz`, a new connection "
    "per request, across SIGTERM, with all capabilities dropped as in the pod; stock uvicorn (`GRACEFUL_DRAIN=false`) "
    "runs beside it for comparison",
)
SHUTDOWN_EXIT = Target(
    "SIGTERM under load{}: exit within grace",
    f"<= {SHUTDOWN_GRACE_S:g} s",
    "SIGTERM to process exit in the slowest drill, with `GRACEFUL_SHUTDOWN_TIMEOUT` set to the goal",
)
SHUTDOWN_LOST = Target(
    "SIGTERM under load{}: acknowledged creates lost",
    "0",
    "ids of creates answered 201 during the drills that are missing from the table afterwards",
)
REDIS_READS = Target(
    "Redis killed: 5xx on reads",
    "0",
    "5xx answers and client errors on item reads while redis-server is SIGKILLed, down, and restarted on the same port",
)
REDIS_HITS = Target(
    "Redis back: cache hits resume",
    "yes",
    "an `X-Cache: hit` answer after Redis is back (the time to the first one is reported)",
)
MYSQL_READYZ_DOWN = Target(
    "MySQL down: /readyz 503",
    "503 only",
    "`/readyz` answers, polled under create load, stamped while MariaDB is stopped",
)
MYSQL_READYZ_BACK = Target(
    "MySQL back: /readyz 200",
    f"<= {MYSQL_READY_MAX_S:g} s",
    "MariaDB accepting connections again to the first 200 on `/readyz`",
)
MYSQL_LOST = Target(
    "MySQL restart: acknowledged creates lost",
    "0",
    "ids of creates answered 201 around the restart that are missing from the table afterwards",
)
IMAGE_SIZE = Target(
    "image: added size over the base vs naive single-stage",
    "smaller",
    "uncompressed layer bytes the real image (`app/Dockerfile`) adds to its base, against a single-stage build of the "
    "same app on the same base (`bench/naive.Dockerfile`); full mode or `--only image`",
)
IMAGE_REBUILD = Target(
    "image: warm rebuild (code-only change) / cold build",
    f"<= {IMAGE_WARM_OVER_COLD_MAX:g}",
    "the real image's rebuild after a code-only change, with the layer and uv caches its cold build left, over that "
    "`--no-cache` build with an empty uv cache",
)

TARGETS = (
    HEALTHZ,
    CACHED_READ,
    COLD_START,
    SHUTDOWN_FAILED,
    SHUTDOWN_EXIT,
    SHUTDOWN_LOST,
    REDIS_READS,
    REDIS_HITS,
    MYSQL_READYZ_DOWN,
    MYSQL_READYZ_BACK,
    MYSQL_LOST,
    IMAGE_SIZE,
    IMAGE_REBUILD,
)

# The numeric limits by name, for `python -m bench.targets --limit NAME` (bench/image.sh reads its own).
LIMITS = {
    "HEALTHZ_MIN_RATIO": HEALTHZ_MIN_RATIO,
    "CACHED_READ_MIN_RATIO": CACHED_READ_MIN_RATIO,
    "COLD_START_MAX_S": COLD_START_MAX_S,
    "SHUTDOWN_GRACE_S": SHUTDOWN_GRACE_S,
    "MYSQL_READY_MAX_S": MYSQL_READY_MAX_S,
    "IMAGE_WARM_OVER_COLD_MAX": IMAGE_WARM_OVER_COLD_MAX,
}
