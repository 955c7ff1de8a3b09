"""The bench's targets, defined here and nowhere else: each one's limit, goal and what it measures.

bench/targets/judge.py holds a run's results against them (the Targets table of results.md,
results.json's "targets"); `python -m bench.targets --write` renders them into README.md.
Standard library only, so any Python 3 renders or checks the README without the app's venv.
"""

from __future__ import annotations

from dataclasses import dataclass

# Throughput against the bare FastAPI app in the same run (bench/baseline.py): what a FastAPI
# service with request ids, metrics, logs and auth should keep of it (issue 28's goals).
HEALTHZ_MIN_RATIO = 0.95
# /healthz's p99 at the highest connection count, over the baseline's p99 in the same repetition.
HEALTHZ_P99_MAX_OVER_BASELINE = 1.5
HEALTHZ_P99_CONNECTIONS = 64
# A Redis hit: one round trip on top of the request.
CACHED_READ_MIN_RATIO = 0.8
CACHED_READ_CONNECTIONS = (16, 64)
# A primary-key read from MariaDB on the same 2 cores.
UNCACHED_READ_MIN_RATIO = 0.2
UNCACHED_READ_CONNECTIONS = 16
# Tail latency of the database paths at the highest connection count, with no error.
DB_P99_CONNECTIONS = 64
UNCACHED_READ_P99_MAX_MS = 100
CREATE_P99_MAX_MS = 150
COLD_START_MAX_S = 1.0
# Nothing a request needs may wait for the first request: the first uncached read, create and
# cached read after /readyz answers 200, each on a new connection.
FIRST_REQUEST_MAX_MS = 25
# Also the drill's GRACEFUL_SHUTDOWN_TIMEOUT: the service must exit within the grace it is given.
SHUTDOWN_GRACE_S = 5
MYSQL_READY_MAX_S = 5.0
IMAGE_WARM_OVER_COLD_MAX = 0.15
# A bulk import exists to beat posting the items one by one: through the queue at least as many items/s.
IMPORT_QUEUE_MIN_RATIO = 1.0
# Tracing on against off in the same run: /healthz makes no span (only the decision not to), a
# cached read makes two (the request's, its Redis GET); what the latter costs is reported, not held.
TRACING_HEALTHZ_MIN_RATIO = 0.9
TRACING_CONNECTIONS = (16, 64)
# An idle worker starts a task as soon as Redis hands it over; half a second at p99 leaves room for
# a noisy 2-core machine, and more means the worker is not consuming promptly (prefetch, acks, mingle).
QUEUE_LATENCY_P99_MAX_MS = 500


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
    "(`bench/baseline.py`), at c=1, 16 and 64; the median of back-to-back ratios",
)
HEALTHZ_P99 = Target(
    "/healthz p99 vs baseline p99{}",
    f"<= {HEALTHZ_P99_MAX_OVER_BASELINE:g}x",
    f"the service's `/healthz` p99 over the baseline's, at c={HEALTHZ_P99_CONNECTIONS}; the median of back-to-back ratios",
)
CACHED_READ = Target(
    "cached read vs baseline{}",
    f">= {CACHED_READ_MIN_RATIO:g}x",
    "the same ratio for `GET /api/v1/items/{id}` of an item created through the API (written through, so every read "
    f"hits Redis), at c={' and '.join(map(str, CACHED_READ_CONNECTIONS))}",
)
UNCACHED_READ = Target(
    "uncached read vs baseline{}",
    f">= {UNCACHED_READ_MIN_RATIO:g}x",
    "the same ratio for `GET /api/v1/items/{id}` of random ids over rows inserted straight into MariaDB (Redis "
    f"flushed before each run: a primary-key read from MariaDB), at c={UNCACHED_READ_CONNECTIONS}",
)
UNCACHED_READ_P99 = Target(
    "uncached read p99{}",
    f"<= {UNCACHED_READ_P99_MAX_MS:g} ms, no error",
    f"wrk's p99 of the uncached read at c={DB_P99_CONNECTIONS}, median of the repetitions; any non-2xx answer or socket error fails it",
)
CREATE_P99 = Target(
    "create p99{}",
    f"<= {CREATE_P99_MAX_MS:g} ms, no error",
    f"wrk's p99 of `POST /api/v1/items` at c={DB_P99_CONNECTIONS}, median of the repetitions; any non-201 answer or socket error fails it",
)
COLD_START = Target(
    "cold start to /readyz 200 (median)",
    f"<= {COLD_START_MAX_S:g} s",
    "exec of `python -m service` to its first 200 on `/readyz`, median of the runs; the app's venv compiled to "
    "bytecode first, as the image is (`UV_COMPILE_BYTECODE=1`)",
)
FIRST_REQUESTS = Target(
    "first requests after /readyz 200 (slowest)",
    f"<= {FIRST_REQUEST_MAX_MS:g} ms",
    "right after each cold start, an uncached read, a create and a cached read, each on a new connection: the "
    "slowest of them, median over the starts (the same requests once more are reported beside it)",
)
TRACING_HEALTHZ = Target(
    "tracing on vs off: /healthz{}",
    f">= {TRACING_HEALTHZ_MIN_RATIO:g}x",
    "`/healthz` req/s of the service with tracing on (OTLP/HTTP to a sink, every trace sampled) over the same service "
    "with it off, both running, measured in alternation; median of per-repetition ratios",
)
TRACING_READ = Target(
    "tracing on vs off: cached read{}",
    "reported",
    "the same for a cached item read (a server span and a Redis span per request); the sink must have received spans",
)
TRACING_READ_SAMPLED = Target(
    "tracing on, 1 in 10 sampled, vs off: cached read{}",
    "reported",
    "the same with `OTEL_TRACES_SAMPLER=parentbased_traceidratio` and `OTEL_TRACES_SAMPLER_ARG=0.1` (`tracing.sampleRatio: 0.1`)",
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
IMPORT_THROUGHPUT = Target(
    "import: items/s through the queue vs POST /api/v1/items",
    f">= {IMPORT_QUEUE_MIN_RATIO:g}x",
    "the same number of items inserted by bulk imports (`POST /api/v1/imports`, the worker with its default "
    "settings) against one `POST /api/v1/items` per item from 8 concurrent client threads (a new connection per "
    "request); first POST to the last job succeeded / the last 201, median ratio of the repetitions",
)
QUEUE_LATENCY = Target(
    "queue latency p99 (job created to task started)",
    f"<= {QUEUE_LATENCY_P99_MAX_MS:g} ms",
    "one-item imports posted one at a time to an idle worker: the job's `created_at` (set by the API just before "
    "it publishes the task) to its `started_at` (set by the task when it claims the job); p50 reported beside it",
)
WORKER_SIGTERM_LOST = Target(
    "worker SIGTERM under load: imports lost",
    "0",
    "imports accepted (202) while client threads post them across a SIGTERM to the worker's main process and a "
    "while with no worker, that have not succeeded once a new worker has run",
)
WORKER_SIGTERM_FINISHED = Target(
    "worker SIGTERM: tasks running at SIGTERM finished before exit",
    "all",
    "Celery's warm shutdown: the imports running when SIGTERM arrived have succeeded by the time the worker exited",
)
WORKER_SIGKILL_LOST = Target(
    "worker SIGKILL under load: imports lost",
    "0",
    "the same, with SIGKILL to every process of the worker (a pod killed): its tasks come back after the "
    "visibility timeout (6 s in the drill) to the new worker",
)
WORKER_DUPLICATES = Target(
    "worker drills: items inserted twice",
    "0",
    "rows beyond one per imported item across both drills: a task run again after a kill goes on from its "
    "progress marker, inserting nothing twice",
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
    HEALTHZ_P99,
    CACHED_READ,
    UNCACHED_READ,
    UNCACHED_READ_P99,
    CREATE_P99,
    TRACING_HEALTHZ,
    TRACING_READ,
    TRACING_READ_SAMPLED,
    COLD_START,
    FIRST_REQUESTS,
    SHUTDOWN_FAILED,
    SHUTDOWN_EXIT,
    SHUTDOWN_LOST,
    REDIS_READS,
    REDIS_HITS,
    MYSQL_READYZ_DOWN,
    MYSQL_READYZ_BACK,
    MYSQL_LOST,
    IMPORT_THROUGHPUT,
    QUEUE_LATENCY,
    WORKER_SIGTERM_LOST,
    WORKER_SIGTERM_FINISHED,
    WORKER_SIGKILL_LOST,
    WORKER_DUPLICATES,
    IMAGE_SIZE,
    IMAGE_REBUILD,
)

# The numeric limits by name, for `python -m bench.targets --limit NAME` (bench/image.sh reads its own).
LIMITS = {
    "HEALTHZ_MIN_RATIO": HEALTHZ_MIN_RATIO,
    "HEALTHZ_P99_MAX_OVER_BASELINE": HEALTHZ_P99_MAX_OVER_BASELINE,
    "CACHED_READ_MIN_RATIO": CACHED_READ_MIN_RATIO,
    "UNCACHED_READ_MIN_RATIO": UNCACHED_READ_MIN_RATIO,
    "UNCACHED_READ_P99_MAX_MS": UNCACHED_READ_P99_MAX_MS,
    "CREATE_P99_MAX_MS": CREATE_P99_MAX_MS,
    "TRACING_HEALTHZ_MIN_RATIO": TRACING_HEALTHZ_MIN_RATIO,
    "COLD_START_MAX_S": COLD_START_MAX_S,
    "FIRST_REQUEST_MAX_MS": FIRST_REQUEST_MAX_MS,
    "SHUTDOWN_GRACE_S": SHUTDOWN_GRACE_S,
    "MYSQL_READY_MAX_S": MYSQL_READY_MAX_S,
    "IMAGE_WARM_OVER_COLD_MAX": IMAGE_WARM_OVER_COLD_MAX,
    "IMPORT_QUEUE_MIN_RATIO": IMPORT_QUEUE_MIN_RATIO,
    "QUEUE_LATENCY_P99_MAX_MS": QUEUE_LATENCY_P99_MAX_MS,
}
