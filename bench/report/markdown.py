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
        f"Host: {r['host']}",
        "",
        "## Targets",
        "",
        "| Target | Goal | Measured | Pass |",
        "| --- | --- | --- | --- |",
    ]
    for t in r["targets"]:
        lines.append(f"| {t['target']} | {t['goal']} | {t['measured']} | {PASS_MARK[t['pass']]} |")
    tp = r.get("throughput")
    if tp:
        lines += _throughput(tp)
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
        "| Scenario | Conns | req/s | p50 ms | p99 ms | vs baseline | non-2xx | socket errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, by_conn in tp["summary"].items():
        for conns, s in by_conn.items():
            ratio = tp["ratio_vs_baseline"].get(name, {}).get(conns)
            lines.append(
                f"| {name} | {conns} | {s['rps']:.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | "
                f"{'1.00x' if ratio is None else f'{ratio:.2f}x'} | {s['non2xx']} | {s['socket_errors']} |"
            )
    mr = tp["uncached_miss_ratio"]
    lines += [
        "",
        f"Uncached read: random ids over {tp['uncached_ids']} rows inserted straight into MariaDB, Redis "
        f"flushed before each run; measured miss ratio {'n/a' if mr is None else f'{mr:.0%}'}.",
    ]
    return lines
