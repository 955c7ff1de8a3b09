"""wrk, one thread, with the API key and `--latency`: its output parsed into numbers."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import TypedDict

from bench.harness.credentials import AUTHORIZATION

# A request slower than this counts as a wrk timeout (socket error) rather than a latency.
REQUEST_TIMEOUT = "10s"
# wrk stops itself after its duration; the slack bounds a wrk that does not.
EXIT_SLACK_S = 30

UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


class WrkRun(TypedDict):
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non2xx: int
    socket_errors: int


def wrk(url: str, conns: int, seconds: float, script: Path | None = None, env: dict[str, str] | None = None) -> WrkRun:
    """One wrk run against `url` (`script`: a Lua script, reading `env`)."""
    argv = [
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        REQUEST_TIMEOUT,
        "--latency",
        "-H",
        f"Authorization: {AUTHORIZATION}",
    ]
    if script:
        argv += ["-s", str(script)]
    argv.append(url)
    res = subprocess.run(
        argv, check=False, capture_output=True, text=True, timeout=seconds + EXIT_SLACK_S, env={**os.environ, **(env or {})}
    )
    if res.returncode != 0:
        raise RuntimeError(f"wrk exit {res.returncode}: {res.stderr[-800:] or res.stdout[-800:]}")
    return parse(res.stdout)


def parse(out: str) -> WrkRun:
    """wrk's report -> numbers; RuntimeError when it is not one."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if not (rps and p50 and p99 and total):
        raise RuntimeError(f"wrk output not understood:\n{out}")
    return {
        "rps": float(rps.group(1)),
        "p50_ms": _ms(p50.group(1)),
        "p99_ms": _ms(p99.group(1)),
        "requests": int(total.group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(map(int, sock.groups())) if sock else 0,
    }


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"unparsable latency {text!r}")
    return float(m.group(1)) * UNIT_MS[m.group(2)]
