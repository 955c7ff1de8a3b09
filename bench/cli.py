"""The bench run: arguments, the testbed, the selected scenarios in order, the outputs.

Outputs in build/bench/: results.json, results.md, PNG plots. Exit status: 0 when the harness
ran (targets are reported, not asserted: these machines are noisy); 1 when it broke.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench.harness.log import log
from bench.harness.testbed import Testbed
from bench.paths import OUT
from bench.report.markdown import markdown
from bench.report.plots import PlotError, plots
from bench.scenarios import NAMES, SCENARIOS
from bench.targets.judge import judge

SUMMARY_CHARS = 600


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Benchmarks and fault drills against a bare FastAPI baseline measured in the same run.")
    ap.add_argument("--smoke", action="store_true", help="each scenario briefly (one connection count, short runs and drills; no image)")
    ap.add_argument("--only", default="", help=f"subset, comma-separated: {','.join(NAMES)}")
    args = ap.parse_args(argv)
    only = {s for s in args.only.split(",") if s}
    if unknown := only - set(NAMES):
        ap.error(f"--only: unknown scenario(s) {','.join(sorted(unknown))}; known: {','.join(NAMES)}")

    OUT.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "smoke": args.smoke,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": f"{os.cpu_count()} CPUs, {os.uname().sysname} {os.uname().release}",
        "load_start": list(os.getloadavg()),
        "errors": [],
    }
    base = Path(tempfile.mkdtemp(prefix="bench-"))
    testbed = None
    broke = False
    try:
        testbed = Testbed(base)
        testbed.start()
        log(f"MariaDB :{testbed.db.port}, Redis :{testbed.redis.port}")
        for scenario in SCENARIOS:
            if not (scenario.name in only if only else scenario.in_smoke or not args.smoke):
                continue
            log(f"== {scenario.title}")
            start = time.monotonic()
            try:
                results[scenario.name] = scenario.run(testbed, args.smoke)
                summary = {k: v for k, v in results[scenario.name].items() if k != "summary"}
                log(f"{scenario.name}: {json.dumps(summary, default=str)[:SUMMARY_CHARS]}")
            except Exception as exc:
                broke = True
                traceback.print_exc()
                results["errors"].append(f"{scenario.name}: {type(exc).__name__}: {exc}")
            log(f"{scenario.name} took {time.monotonic() - start:.1f} s")
    except Exception as exc:
        broke = True
        traceback.print_exc()
        results["errors"].append(f"setup: {type(exc).__name__}: {exc}")
    finally:
        if testbed is not None:
            testbed.close()
        shutil.rmtree(base, ignore_errors=True)

    results["load_end"] = list(os.getloadavg())
    broke = _write_outputs(results) or broke
    return 1 if broke else 0


def _write_outputs(results: dict[str, Any]) -> bool:
    """results.json, the plots, results.md; True when the plots failed."""
    results["targets"] = judge(results)
    results_json = OUT / "results.json"
    _write_json(results_json, results)  # the plots read it
    failed = False
    try:
        results["plots"] = plots(results_json, OUT)
    except PlotError as exc:
        failed = True
        results["plots"] = f"failed: {exc}"
        results["errors"].append(f"plots: {exc}")
    _write_json(results_json, results)
    report = markdown(results)
    (OUT / "results.md").write_text(report)
    print(report)
    log(f"wrote {results_json}, {OUT / 'results.md'} (plots: {results['plots']})")
    return failed


def _write_json(path: Path, results: dict[str, Any]) -> None:
    path.write_text(json.dumps(results, indent=1, default=str) + "\n")
