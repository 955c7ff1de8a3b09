"""A run's results held against the targets: one row per target and connection count or variant.

A target whose scenario did not run has no row, except the image's (it runs only in full mode or
with --only image), which says so.
"""

from __future__ import annotations

import json
from typing import Any, TypedDict

from bench.targets import (
    CACHED_READ,
    CACHED_READ_CONNECTIONS,
    CACHED_READ_MIN_RATIO,
    COLD_START,
    COLD_START_MAX_S,
    CREATE_P99,
    CREATE_P99_MAX_MS,
    DB_P99_CONNECTIONS,
    FIRST_REQUEST_MAX_MS,
    FIRST_REQUESTS,
    HEALTHZ,
    HEALTHZ_MIN_RATIO,
    HEALTHZ_P99,
    HEALTHZ_P99_CONNECTIONS,
    HEALTHZ_P99_MAX_OVER_BASELINE,
    IMAGE_REBUILD,
    IMAGE_SIZE,
    IMAGE_WARM_OVER_COLD_MAX,
    IMPORT_QUEUE_MIN_RATIO,
    IMPORT_THROUGHPUT,
    MYSQL_LOST,
    MYSQL_READY_MAX_S,
    MYSQL_READYZ_BACK,
    MYSQL_READYZ_DOWN,
    QUEUE_LATENCY,
    QUEUE_LATENCY_P99_MAX_MS,
    REDIS_HITS,
    REDIS_READS,
    SHUTDOWN_EXIT,
    SHUTDOWN_FAILED,
    SHUTDOWN_GRACE_S,
    SHUTDOWN_JUDGED_VARIANT,
    SHUTDOWN_LOST,
    TRACING_CONNECTIONS,
    TRACING_HEALTHZ,
    TRACING_HEALTHZ_MIN_RATIO,
    TRACING_READ,
    TRACING_READ_SAMPLED,
    UNCACHED_READ,
    UNCACHED_READ_CONNECTIONS,
    UNCACHED_READ_MIN_RATIO,
    UNCACHED_READ_P99,
    UNCACHED_READ_P99_MAX_MS,
    WORKER_DUPLICATES,
    WORKER_SIGKILL_LOST,
    WORKER_SIGTERM_FINISHED,
    WORKER_SIGTERM_LOST,
    Target,
)

# measured: the median (or the one figure); spread: min-max of the repetitions and their count;
# baseline: the bare app's figure in the same run (or what the figure is compared with).
Row = TypedDict("Row", {"target": str, "goal": str, "measured": Any, "spread": str, "baseline": str, "pass": bool | None})
NONE = "-"


def _row(target: Target, measured: Any, ok: bool | None, qualifier: str = "", *, spread: str = NONE, baseline: str = NONE) -> Row:
    return {
        "target": target.row_label(qualifier),
        "goal": target.goal,
        "measured": measured,
        "spread": spread,
        "baseline": baseline,
        "pass": ok,
    }


def _spread(values: list[float], fmt: str) -> str:
    """min-max of the repetitions, and how many."""
    if not values:
        return NONE
    return f"{format(min(values), fmt)}-{format(max(values), fmt)} (n={len(values)})"


def judge(results: dict[str, Any]) -> list[Row]:
    return [
        *_throughput(results.get("throughput")),
        *_tracing_cost(results.get("tracing_cost")),
        *_cold_start(results.get("cold_start")),
        *_shutdown(results.get("shutdown")),
        *_redis(results.get("redis_outage")),
        *_mysql(results.get("mysql_outage")),
        *_import_throughput(results.get("import_throughput")),
        *_queue_latency(results.get("queue_latency")),
        *_worker_drills(results.get("worker_drills")),
        *_image(results.get("image")),
    ]


def _throughput(tp: dict[str, Any] | None) -> list[Row]:
    if not tp:
        return []
    rows: list[Row] = []
    measured = set(tp["connections"])

    def ratio_row(target: Target, name: str, conns: int, minimum: float) -> Row:
        ratio = tp["ratio_vs_baseline"][name][str(conns)]
        base = tp["summary"]["baseline_healthz"][str(conns)]["rps"]
        return _row(
            target,
            f"{ratio:.2f}x ({tp['summary'][name][str(conns)]['rps']:.0f} req/s)",
            ratio >= minimum,
            f", c={conns}",
            spread=_spread(tp["ratio_runs"][name][str(conns)], ".2f"),
            baseline=f"{base:.0f} req/s",
        )

    def p99_row(target: Target, name: str, conns: int, limit_ms: float) -> Row:
        s = tp["summary"][name][str(conns)]
        errors = s["non2xx"] + s["socket_errors"]
        measured_ms = f"{s['p99_ms']:.1f} ms" + (f", {errors} errors" if errors else "")
        base = tp["summary"]["baseline_healthz"][str(conns)]["p99_ms"]
        return _row(
            target,
            measured_ms,
            s["p99_ms"] <= limit_ms and errors == 0,
            f", c={conns}",
            spread=_spread([r["p99_ms"] for r in s["runs"]], ".1f"),
            baseline=f"baseline /healthz p99 {base:.1f} ms",
        )

    for conns in tp["connections"]:
        rows.append(ratio_row(HEALTHZ, "healthz", conns, HEALTHZ_MIN_RATIO))
    if HEALTHZ_P99_CONNECTIONS in measured:
        c = str(HEALTHZ_P99_CONNECTIONS)
        ratio = tp["p99_ratio_vs_baseline"]["healthz"][c]
        rows.append(
            _row(
                HEALTHZ_P99,
                f"{ratio:.2f}x ({tp['summary']['healthz'][c]['p99_ms']:.1f} ms)",
                ratio <= HEALTHZ_P99_MAX_OVER_BASELINE,
                f", c={c}",
                spread=_spread(tp["p99_ratio_runs"]["healthz"][c], ".2f"),
                baseline=f"{tp['summary']['baseline_healthz'][c]['p99_ms']:.1f} ms",
            )
        )
    rows += [ratio_row(CACHED_READ, "cached_read", c, CACHED_READ_MIN_RATIO) for c in CACHED_READ_CONNECTIONS if c in measured]
    if UNCACHED_READ_CONNECTIONS in measured:
        rows.append(ratio_row(UNCACHED_READ, "uncached_read", UNCACHED_READ_CONNECTIONS, UNCACHED_READ_MIN_RATIO))
    if DB_P99_CONNECTIONS in measured:
        rows.append(p99_row(UNCACHED_READ_P99, "uncached_read", DB_P99_CONNECTIONS, UNCACHED_READ_P99_MAX_MS))
        rows.append(p99_row(CREATE_P99, "create", DB_P99_CONNECTIONS, CREATE_P99_MAX_MS))
    return rows


def _tracing_cost(tc: dict[str, Any] | None) -> list[Row]:
    if not tc:
        return []
    exported, errors = tc["exports"]["requests"] > 0, tc["errors"] == 0
    rows: list[Row] = []
    for conns in TRACING_CONNECTIONS:
        c = str(conns)
        for target, workload, mode in (
            (TRACING_HEALTHZ, "healthz", "on"),
            (TRACING_READ, "cached_read", "on"),
            (TRACING_READ_SAMPLED, "cached_read", "sampled"),
        ):
            ratio = tc[f"ratio_{mode}_over_off"][workload][c]
            ok = ratio >= TRACING_HEALTHZ_MIN_RATIO if target is TRACING_HEALTHZ else None
            measured = f"{ratio:.2f}x ({tc['rps'][mode][workload][c]:.0f} req/s)"
            if not (exported and errors):
                ok, measured = False, f"{measured}; {tc['exports']['requests']} exports, {tc['errors']} errors"
            off = f"tracing off: {tc['rps']['off'][workload][c]:.0f} req/s"
            spread = _spread(tc[f"ratio_{mode}_runs"][workload][c], ".2f")
            rows.append(_row(target, measured, ok, f", c={c}", spread=spread, baseline=off))
    return rows


def _cold_start(cs: dict[str, Any] | None) -> list[Row]:
    if not cs:
        return []
    first = cs["first_slowest_median_ms"]
    return [
        _row(COLD_START, f"{cs['median_s']:.2f} s", cs["median_s"] <= COLD_START_MAX_S, spread=_spread(cs["seconds"], ".2f")),
        _row(
            FIRST_REQUESTS,
            f"{first:.1f} ms",
            first <= FIRST_REQUEST_MAX_MS,
            spread=_spread(cs["first_slowest_ms"], ".1f"),
            baseline=f"the same requests again: {cs['again_slowest_median_ms']:.1f} ms",
        ),
    ]


def _shutdown(sd: dict[str, Any] | None) -> list[Row]:
    if not sd:
        return []
    rows: list[Row] = []
    for name, v in sd["variants"].items():
        if name != SHUTDOWN_JUDGED_VARIANT:
            continue  # a comparison, reported in results.json, not held to the targets
        variant = f" ({name})"
        rows.append(_row(SHUTDOWN_FAILED, f"{v['failed_accepted']} in {v['drills']} drills", v["failed_accepted"] == 0, variant))
        in_grace = v["all_exited"] and v["max_exit_s"] <= SHUTDOWN_GRACE_S
        rows.append(_row(SHUTDOWN_EXIT, f"{v['max_exit_s']:.2f} s (slowest)", in_grace, variant))
        rows.append(_row(SHUTDOWN_LOST, v["lost_creates"], v["lost_creates"] == 0, variant))
    return rows


def _redis(rd: dict[str, Any] | None) -> list[Row]:
    if not rd:
        return []
    resumed = rd["hits_resumed_after_s"]
    return [
        _row(REDIS_READS, rd["5xx"], rd["5xx"] == 0 and not rd["errors"]),
        _row(REDIS_HITS, "no" if resumed is None else f"after {resumed:.2f} s", resumed is not None),
    ]


def _mysql(md: dict[str, Any] | None) -> list[Row]:
    if not md:
        return []
    during = md["readyz_during_outage"]
    back = md["readyz_200_after_s"]
    return [
        _row(MYSQL_READYZ_DOWN, json.dumps(during), bool(during) and set(during) == {"503"}),
        _row(MYSQL_READYZ_BACK, "never" if back is None else f"{back:.2f} s", back is not None and back <= MYSQL_READY_MAX_S),
        _row(MYSQL_LOST, f"{md['lost_creates']} of {md['acked_creates']}", md["lost_creates"] == 0),
    ]


def _import_throughput(it: dict[str, Any] | None) -> list[Row]:
    if not it:
        return []
    measured = f"{it['ratio']:.2f}x ({it['queue_items_per_s']:.0f} items/s)"
    return [
        _row(
            IMPORT_THROUGHPUT,
            measured,
            it["ratio"] >= IMPORT_QUEUE_MIN_RATIO,
            spread=_spread(it["ratio_runs"], ".2f"),
            baseline=f"POST /api/v1/items: {it['direct_items_per_s']:.0f} items/s",
        )
    ]


def _queue_latency(ql: dict[str, Any] | None) -> list[Row]:
    if not ql:
        return []
    measured = f"{ql['p99_ms']:.0f} ms (p50 {ql['p50_ms']:.0f} ms, {ql['samples']} imports)"
    return [_row(QUEUE_LATENCY, measured, ql["p99_ms"] <= QUEUE_LATENCY_P99_MAX_MS)]


def _worker_drills(wd: dict[str, Any] | None) -> list[Row]:
    if not wd:
        return []
    term, kill = wd["signals"]["sigterm"], wd["signals"]["sigkill"]
    running = sum(r["running_at_signal"] for r in term["runs"])
    finished = sum(r["running_at_signal_finished_at_exit"] for r in term["runs"])
    duplicated = term["duplicated_items"] + kill["duplicated_items"]
    return [
        _row(WORKER_SIGTERM_LOST, f"{term['lost']} of {term['accepted']} in {term['drills']} drills", term["lost"] == 0),
        _row(WORKER_SIGTERM_FINISHED, f"{finished} of {running}", running > 0 and finished == running),
        _row(
            WORKER_SIGKILL_LOST,
            f"{kill['lost']} of {kill['accepted']} in {kill['drills']} drills ({kill['redelivered']} redelivered)",
            kill["lost"] == 0,
        ),
        _row(WORKER_DUPLICATES, duplicated, duplicated == 0 and term["missing_items"] + kill["missing_items"] == 0),
    ]


def _image(im: dict[str, Any] | None) -> list[Row]:
    if not im:
        return [_row(IMAGE_SIZE, "not run (full mode or --only image; bench/image.sh)", None)]
    real, naive, build = im["real"], im["naive"], im["build"]
    return [
        _row(
            IMAGE_SIZE,
            f"{real['added_mb']} MB vs {naive['added_mb']} MB ({im['added_ratio_real_vs_naive']:.2f}x)",
            real["added_mb"] < naive["added_mb"],
        ),
        _row(
            IMAGE_REBUILD,
            f"{build['real_warm_s']} s / {build['real_cold_s']} s = {build['warm_over_cold']:.2f}",
            build["warm_over_cold"] <= IMAGE_WARM_OVER_COLD_MAX,
        ),
    ]
