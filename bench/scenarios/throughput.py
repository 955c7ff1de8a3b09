"""Throughput and latency under wrk: the service's endpoints next to the bare baseline's /healthz.

Every repetition runs every workload at every connection count back to back, so the machine's noise
hits them alike; a ratio is the median of per-repetition ratios against the baseline run just
before it.
"""

from __future__ import annotations

import signal
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import items
from bench.harness.client import create_item
from bench.harness.datastores import redis_client
from bench.harness.log import log
from bench.harness.memory import rss_mib
from bench.harness.metrics import cache_counts
from bench.harness.processes import kill_group
from bench.harness.testbed import Testbed
from bench.load.wrk import WrkRun, wrk
from bench.paths import BENCH

STOP_WAIT_S = 30
# Each workload once, briefly, before the measured runs: the first run of a fresh process (the
# baseline's above all, measured first) would otherwise pay for its warm-up.
WARMUP_S = 1
WARMUP_CONNECTIONS = 16


@dataclass(frozen=True)
class Settings:
    connections: tuple[int, ...]
    seconds_per_run: int
    repetitions: int
    uncached_rows: int


FULL = Settings(connections=(1, 16, 64), seconds_per_run=5, repetitions=3, uncached_rows=50_000)
SMOKE = Settings(connections=(16, 64), seconds_per_run=2, repetitions=1, uncached_rows=2_000)


@dataclass(frozen=True)
class Workload:
    """What wrk sends: a URL, or a Lua script (reading `env`) building requests for it."""

    url: str
    script: Path | None = None
    env: dict[str, str] | None = None


BASELINE = "baseline_healthz"
UNCACHED = "uncached_read"
COMPARED = ("healthz", "cached_read", UNCACHED, "create")


def run(testbed: Testbed, smoke: bool) -> dict[str, Any]:
    s = SMOKE if smoke else FULL
    service = testbed.service()
    baseline = testbed.baseline()
    try:
        # Created through the API: write-through, so every read of it hits Redis.
        cached_id = create_item(service.port, "cached", 1)
        lowest, highest = items.insert_uncached(testbed, s.uncached_rows)
        svc = f"http://127.0.0.1:{service.port}"
        workloads = {
            BASELINE: Workload(f"http://127.0.0.1:{baseline.port}/healthz"),
            "healthz": Workload(f"{svc}/healthz"),
            "cached_read": Workload(f"{svc}/api/v1/items/{cached_id}"),
            UNCACHED: Workload(f"{svc}/", BENCH / "uncached.lua", {"BENCH_LO": str(lowest), "BENCH_HI": str(highest)}),
            "create": Workload(f"{svc}/api/v1/items", BENCH / "create.lua"),
        }
        rss_at_rest = rss_mib(service.proc.pid)  # one process: WORKERS=1
        runs, miss_ratios = _measure(testbed, service.port, workloads, s)
        return {
            "connections": list(s.connections),
            "seconds_per_run": s.seconds_per_run,
            "repetitions": s.repetitions,
            "summary": _summary(runs),
            "ratio_vs_baseline": _ratios(runs, s.connections, "rps"),
            "ratio_runs": _ratio_runs(runs, s.connections, "rps"),
            "p99_ratio_vs_baseline": _ratios(runs, s.connections, "p99_ms"),
            "p99_ratio_runs": _ratio_runs(runs, s.connections, "p99_ms"),
            "uncached_ids": highest - lowest + 1,
            "uncached_miss_ratio": statistics.median(miss_ratios) if miss_ratios else None,
            "api_rss_mib": {"at_rest": rss_at_rest, "after_load": rss_mib(service.proc.pid)},
        }
    finally:
        kill_group(service.proc, signal.SIGTERM, STOP_WAIT_S)
        kill_group(baseline.proc, signal.SIGTERM, STOP_WAIT_S)


def _measure(
    testbed: Testbed, port: int, workloads: dict[str, Workload], s: Settings
) -> tuple[dict[str, dict[int, list[WrkRun]]], list[float]]:
    """wrk runs per workload and connection count, and the uncached read's miss ratio per run."""
    runs: dict[str, dict[int, list[WrkRun]]] = {name: {c: [] for c in s.connections} for name in workloads}
    miss_ratios: list[float] = []
    for workload in workloads.values():
        wrk(workload.url, WARMUP_CONNECTIONS, WARMUP_S, workload.script, workload.env)
    for rep in range(s.repetitions):
        for conns in s.connections:
            for name, workload in workloads.items():
                if name == UNCACHED:
                    # An empty cache, so a first touch is a miss; the ratio measured says how often.
                    with redis_client(testbed.redis) as r:
                        r.flushdb()
                    before = cache_counts(port)
                res = wrk(workload.url, conns, s.seconds_per_run, workload.script, workload.env)
                if name == UNCACHED:
                    after = cache_counts(port)
                    hits, misses = after["hit"] - before["hit"], after["miss"] - before["miss"]
                    if hits + misses:
                        miss_ratios.append(misses / (hits + misses))
                runs[name][conns].append(res)
                log(
                    f"rep {rep + 1}/{s.repetitions} c={conns:<3} {name:<17} {res['rps']:9.1f} req/s "
                    f"p50 {res['p50_ms']:.2f} ms p99 {res['p99_ms']:.2f} ms non2xx {res['non2xx']} sockerr {res['socket_errors']}"
                )
    return runs, miss_ratios


def _summary(runs: dict[str, dict[int, list[WrkRun]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Medians and ranges of the repetitions, error counts summed, the runs themselves kept."""
    return {
        name: {
            str(conns): {
                "rps": statistics.median(r["rps"] for r in rs),
                "rps_range": [min(r["rps"] for r in rs), max(r["rps"] for r in rs)],
                "p50_ms": statistics.median(r["p50_ms"] for r in rs),
                "p99_ms": statistics.median(r["p99_ms"] for r in rs),
                "p99_range": [min(r["p99_ms"] for r in rs), max(r["p99_ms"] for r in rs)],
                "non2xx": sum(r["non2xx"] for r in rs),
                "socket_errors": sum(r["socket_errors"] for r in rs),
                "runs": rs,
            }
            for conns, rs in by_conn.items()
        }
        for name, by_conn in runs.items()
    }


def _ratio_runs(runs: dict[str, dict[int, list[WrkRun]]], connections: tuple[int, ...], metric: str) -> dict[str, dict[str, list[float]]]:
    """Per workload and connection count: `metric` over the baseline's, repetition by repetition."""
    ratios: dict[str, dict[str, list[float]]] = {}
    for name in COMPARED:
        ratios[name] = {}
        for conns in connections:
            pairs = zip(runs[name][conns], runs[BASELINE][conns], strict=True)
            ratios[name][str(conns)] = [s[metric] / b[metric] for s, b in pairs if b[metric]]  # type: ignore[literal-required]
    return ratios


def _ratios(runs: dict[str, dict[int, list[WrkRun]]], connections: tuple[int, ...], metric: str) -> dict[str, dict[str, float]]:
    """Per workload and connection count: the median of per-repetition ratios to the baseline."""
    return {
        name: {conns: statistics.median(per_rep) if per_rep else 0.0 for conns, per_rep in by_conn.items()}
        for name, by_conn in _ratio_runs(runs, connections, metric).items()
    }
