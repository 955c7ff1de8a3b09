"""results.md: the targets table, the throughput table, and every other scenario's results."""

from __future__ import annotations

import json
from typing import Any

PASS_MARK = {True: "yes", False: "**NO**", None: "-"}
DETAILED = (
    "shutdown",
    "redis_outage",
    "mysql_outage",
    "import_throughput",
    "queue_latency",
    "worker_drills",
    "cold_start",
    "image",
)


def markdown(r: dict[str, Any]) -> str:
    mode = "smoke" if r["smoke"] else "full"
    lines = [
        f"# Benchmarks ({mode}, {r['started']})",
        "",
        f"Host: {r['host']}; load average (1, 5, 15 min) at the start {_load(r.get('load_start'))}, at the end {_load(r.get('load_end'))}",
        "",
        "## Targets",
        "",
        "Measured: the median of the repetitions (or the one figure); spread: their min-max and count; "
        "baseline: the bare FastAPI app's figure in the same run, or what the figure is compared with.",
        "",
        "| Target | Goal | Measured | Spread | Baseline (same run) | Pass |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for t in r["targets"]:
        lines.append(
            f"| {t['target']} | {t['goal']} | {t['measured']} | {t.get('spread', '-')} | {t.get('baseline', '-')} "
            f"| {PASS_MARK[t['pass']]} |"
        )
    tp = r.get("throughput")
    if tp:
        lines += _throughput(tp)
    lines += _memory(r)
    ot = r.get("offline")
    if ot:
        lines += ["", "## Offline", "", "| Step | Seconds | Exit |", "| --- | --- | --- |"]
        for k, v in ot.items():
            if isinstance(v, dict):
                lines.append(f"| {k} | {v['seconds']:.1f} | {v['exit_code']} |")
    for key in DETAILED:
        if key in r:
            lines += ["", f"## {key}", "", "```json", json.dumps(r[key], indent=1, default=str), "```"]
    if r.get("errors"):
        lines += ["", "## Harness errors", ""] + [f"- {e}" for e in r["errors"]]
    return "\n".join(lines) + "\n"


def _throughput(tp: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"## Throughput (wrk -t1, {tp['seconds_per_run']} s per run, median of {tp['repetitions']}; "
        "ratio = median of back-to-back ratios vs the baseline)",
        "",
        "| Scenario | Conns | req/s (min-max) | p50 ms | p99 ms (min-max) | vs baseline (min-max) | non-2xx | socket errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, by_conn in tp["summary"].items():
        for conns, s in by_conn.items():
            ratio = tp["ratio_vs_baseline"].get(name, {}).get(conns)
            per_rep = tp.get("ratio_runs", {}).get(name, {}).get(conns, [])
            vs = "1.00x" if ratio is None else f"{ratio:.2f}x" + (f" ({min(per_rep):.2f}-{max(per_rep):.2f})" if per_rep else "")
            rps_lo, rps_hi = s.get("rps_range", [s["rps"], s["rps"]])
            p99_lo, p99_hi = s.get("p99_range", [s["p99_ms"], s["p99_ms"]])
            lines.append(
                f"| {name} | {conns} | {s['rps']:.0f} ({rps_lo:.0f}-{rps_hi:.0f}) | {s['p50_ms']:.2f} | "
                f"{s['p99_ms']:.2f} ({p99_lo:.2f}-{p99_hi:.2f}) | {vs} | {s['non2xx']} | {s['socket_errors']} |"
            )
    mr = tp["uncached_miss_ratio"]
    lines += [
        "",
        f"Uncached read: random ids over {tp['uncached_ids']} rows inserted straight into MariaDB, Redis "
        f"flushed before each run; measured miss ratio {'n/a' if mr is None else f'{mr:.0%}'}.",
    ]
    return lines


def _load(values: Any) -> str:
    return "n/a" if not values else ", ".join(f"{v:.2f}" for v in values)


def _memory(r: dict[str, Any]) -> list[str]:
    """RSS of one API process (the throughput scenario's) and of the worker (the import scenario's)."""
    rows = []
    api = (r.get("throughput") or {}).get("api_rss_mib")
    if api:
        rows.append(f"| API process (WORKERS=1), throughput scenario | {api['at_rest']} | {api['after_load']} |")
    imp = (r.get("import_throughput") or {}).get("rss_mib")
    if imp:
        rest, after = imp["at_rest"], imp["after_load"]
        rows.append(f"| API process, import scenario | {rest['api']} | {after['api']} |")
        for key, label in (
            ("main", "worker main process"),
            ("total", "worker, main + pool processes (RSS summed)"),
            ("total_pss", "worker, main + pool processes (PSS: shared pages counted once)"),
        ):
            rows.append(f"| {label} | {rest['worker'][key]} | {after['worker'][key]} |")
        rows.append(
            f"| worker pool processes, each | {', '.join(map(str, rest['worker']['children']))} "
            f"| {', '.join(map(str, after['worker']['children']))} |"
        )
    if not rows:
        return []
    return ["", "## Memory (RSS, MiB)", "", "| Process | At rest | After the load |", "| --- | --- | --- |", *rows]
