"""`make bench` / `make bench-smoke`: what users feel, next to a baseline measured in the same run.

Run with the app's interpreter (app/.venv/bin/python bench/run.py [--smoke]). Starts a private
MariaDB and Redis (app/tests/servers.py) on free 127.0.0.1 ports in a temp dir, the service and a
bare FastAPI baseline with the same uvicorn settings, drives them with wrk and bounded client
threads, and writes build/bench/results.json, results.md and PNG plots (matplotlib from a separate
venv, build/bench-venv, so the app's lock stays untouched).

Exit status: 0 when the harness ran (targets are reported, not asserted); 1 when it broke.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"
BENCH = ROOT / "bench"
OUT = ROOT / "build" / "bench"
APP_PY = APP / ".venv" / "bin" / "python"
sys.path.insert(0, str(APP))

from tests.servers import MariaDB, RedisServer, find_binary, free_port  # noqa: E402

API_KEY = "bench-key-" + "k" * 32
DB_NAME = "bench"
READY_TIMEOUT = 30.0
HTTP_TIMEOUT = 10.0


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- processes


def kill_group(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGKILL, wait: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(wait)


def request(
    port: int, method: str, path: str, body: Any = None, *, timeout: float = HTTP_TIMEOUT, auth: bool = True
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection (so a refused connect is distinguishable from a failure)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Authorization": f"Bearer {API_KEY}"} if auth else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.connect()
        except ConnectionError as exc:  # never reached the server: not an accepted request
            raise ConnectionRefusedError(str(exc)) from exc
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def wait_status(port: int, path: str, want: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> float | None:
    """Seconds until `path` answers `want`, or None within `timeout` (bounded polling)."""
    start = time.monotonic()
    deadline = start + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return None
        try:
            if request(port, "GET", path, timeout=2.0, auth=False)[0] == want:
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.01)
    return None


class Env:
    """Private MariaDB + Redis, a secrets dir, and helpers to start service instances."""

    def __init__(self, base: Path) -> None:
        self.base = base
        mariadbd, install_db, redis_bin = find_binary("mariadbd"), find_binary("mariadb-install-db"), find_binary("redis-server")
        if not (mariadbd and install_db and redis_bin):
            raise SystemExit("bench: mariadbd / mariadb-install-db / redis-server not found (apt-get install mariadb-server redis-server)")
        (base / "mariadb").mkdir()
        (base / "redis").mkdir()
        self.db = MariaDB(base / "mariadb", mariadbd, install_db)
        self.redis = RedisServer(base / "redis", redis_bin)
        self.secrets = base / "secrets"
        self.secrets.mkdir()
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        self.db.start()
        self.db.setup_user()
        self.db.create_database(DB_NAME)
        self.redis.start()
        for name, value in {
            "db_password": self.db.password,
            "redis_password": self.redis.password,
            "api_keys": API_KEY,
            "secret_key": "s" * 40,
        }.items():
            (self.secrets / name).write_text(value + "\n")
        rc = subprocess.run(
            [str(APP_PY), "-m", "service", "migrate"],
            env=self.service_env(free_port()),
            cwd=APP,
            capture_output=True,
            timeout=120,
            check=False,
        )
        if rc.returncode != 0:
            raise RuntimeError(f"migrate failed: {rc.stderr.decode(errors='replace')}")

    def service_env(self, port: int, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "REDIS_", "API_KEYS", "SECRET"))}
        env.update(
            APP_ENV="dev",
            LOG_LEVEL="WARNING",
            SERVICE_HOST="127.0.0.1",
            SERVICE_PORT=str(port),
            WORKERS="1",
            DB_HOST="127.0.0.1",
            DB_PORT=str(self.db.port),
            DB_NAME=DB_NAME,
            DB_USER=self.db.user,
            REDIS_HOST="127.0.0.1",
            REDIS_PORT=str(self.redis.port),
            SECRETS_DIR=str(self.secrets),
        )
        env.update(extra)
        return env

    def spawn(self, argv: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        logf = (self.base / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, env=env, cwd=APP, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        logf.close()
        self.procs.append(proc)
        return proc

    def service(self, prefix: tuple[str, ...] = (), **extra: str) -> tuple[subprocess.Popen[bytes], int, float]:
        """Start the service (``prefix``: a wrapper that execs it); returns (proc, port, seconds from exec to the first 200 on /readyz)."""
        port = free_port()
        t0 = time.monotonic()
        proc = self.spawn([*prefix, str(APP_PY), "-m", "service"], self.service_env(port, **extra), f"service-{port}")
        ready = wait_status(port, "/readyz", 200, READY_TIMEOUT, proc)
        if ready is None:
            kill_group(proc)
            raise RuntimeError(f"service not ready in {READY_TIMEOUT}s: {self.tail(f'service-{port}')}")
        return proc, port, time.monotonic() - t0

    def baseline(self) -> tuple[subprocess.Popen[bytes], int]:
        port = free_port()
        argv = [
            str(APP_PY),
            "-m",
            "uvicorn",
            "baseline:app",
            "--app-dir",
            str(BENCH),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--lifespan",
            "on",
            "--proxy-headers",
            "--forwarded-allow-ips",
            "127.0.0.1",
            "--timeout-graceful-shutdown",
            "20",
            "--no-access-log",
            "--no-server-header",
            "--log-level",
            "warning",
        ]
        proc = self.spawn(argv, self.service_env(port), f"baseline-{port}")
        if wait_status(port, "/healthz", 200, READY_TIMEOUT, proc) is None:
            kill_group(proc)
            raise RuntimeError(f"baseline not ready: {self.tail(f'baseline-{port}')}")
        return proc, port

    def tail(self, name: str) -> str:
        try:
            return "\n".join((self.base / f"{name}.log").read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""

    def close(self) -> None:
        for proc in self.procs:
            kill_group(proc)
        for server in (self.redis, self.db):
            try:
                server.stop()
            except Exception:  # keep cleaning up
                traceback.print_exc()


# --------------------------------------------------------------------------- wrk

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"unparsable latency {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def wrk(url: str, conns: int, secs: float, script: Path | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    argv = [
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{max(1, round(secs))}s",
        "--timeout",
        "10s",
        "--latency",
        "-H",
        f"Authorization: Bearer {API_KEY}",
    ]
    if script:
        argv += ["-s", str(script)]
    argv.append(url)
    out = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=secs + 30, env={**os.environ, **(env or {})}).stdout
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


def cache_counts(port: int) -> dict[str, float]:
    _, _, body = request(port, "GET", "/metrics", auth=False)
    counts = {"hit": 0.0, "miss": 0.0}
    for m in re.finditer(r'^service_cache_requests_total\{result="(\w+)"\}\s+([\d.e+]+)', body.decode(), re.M):
        counts[m.group(1)] = float(m.group(2))
    return counts


def throughput(env: Env, smoke: bool) -> dict[str, Any]:
    conns_list = [16] if smoke else [1, 16, 64]
    secs = 2 if smoke else 5
    reps = 1 if smoke else 3
    n_uncached = 2_000 if smoke else 50_000
    svc, port, _ = env.service()
    base, bport = env.baseline()
    try:
        status, _, body = request(port, "POST", "/api/v1/items", {"name": "cached", "quantity": 1})
        assert status == 201, status
        cached_id = json.loads(body)["id"]
        with env.db.root(DB_NAME) as conn, conn.cursor() as cur:
            cur.execute("SELECT COALESCE(MAX(id), 0) FROM items")
            lo = int(cur.fetchone()[0]) + 1
            rows = [(f"u{i}", "uncached bench row", i) for i in range(n_uncached)]
            for i in range(0, len(rows), 5000):
                cur.executemany(
                    "INSERT INTO items (name, description, quantity, created_at, updated_at) "
                    "VALUES (%s, %s, %s, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
                    rows[i : i + 5000],
                )
            cur.execute("SELECT MAX(id) FROM items")
            hi = int(cur.fetchone()[0])
        scenarios = {
            "baseline_healthz": (f"http://127.0.0.1:{bport}/healthz", None, None),
            "healthz": (f"http://127.0.0.1:{port}/healthz", None, None),
            "cached_read": (f"http://127.0.0.1:{port}/api/v1/items/{cached_id}", None, None),
            "uncached_read": (f"http://127.0.0.1:{port}/", BENCH / "uncached.lua", {"BENCH_LO": str(lo), "BENCH_HI": str(hi)}),
            "create": (f"http://127.0.0.1:{port}/api/v1/items", BENCH / "create.lua", None),
        }
        runs: dict[str, dict[int, list[dict[str, Any]]]] = {k: {c: [] for c in conns_list} for k in scenarios}
        miss_ratio: list[float] = []
        # Interleave: every repetition runs every scenario back to back, so noise hits all alike.
        for rep in range(reps):
            for conns in conns_list:
                for name, (url, script, extra) in scenarios.items():
                    if name == "uncached_read":
                        with env.redis.client() as r:
                            r.flushdb()
                        before = cache_counts(port)
                    res = wrk(url, conns, secs, script, extra)
                    if name == "uncached_read":
                        after = cache_counts(port)
                        hits, misses = after["hit"] - before["hit"], after["miss"] - before["miss"]
                        if hits + misses:
                            miss_ratio.append(misses / (hits + misses))
                    runs[name][conns].append(res)
                    log(
                        f"rep {rep + 1}/{reps} c={conns:<3} {name:<17} {res['rps']:9.1f} req/s "
                        f"p50 {res['p50_ms']:.2f} ms p99 {res['p99_ms']:.2f} ms non2xx {res['non2xx']} sockerr {res['socket_errors']}"
                    )
        summary: dict[str, Any] = {}
        for name, by_conn in runs.items():
            summary[name] = {}
            for conns, rs in by_conn.items():
                summary[name][str(conns)] = {
                    "rps": statistics.median(r["rps"] for r in rs),
                    "p50_ms": statistics.median(r["p50_ms"] for r in rs),
                    "p99_ms": statistics.median(r["p99_ms"] for r in rs),
                    "non2xx": sum(r["non2xx"] for r in rs),
                    "socket_errors": sum(r["socket_errors"] for r in rs),
                    "runs": rs,
                }
        ratios: dict[str, dict[str, float]] = {}
        for name in ("healthz", "cached_read", "uncached_read", "create"):
            ratios[name] = {}
            for conns in conns_list:
                # Median of per-repetition ratios: each pair ran back to back.
                per_rep = [s["rps"] / b["rps"] for s, b in zip(runs[name][conns], runs["baseline_healthz"][conns], strict=True) if b["rps"]]
                ratios[name][str(conns)] = statistics.median(per_rep) if per_rep else 0.0
        return {
            "connections": conns_list,
            "seconds_per_run": secs,
            "repetitions": reps,
            "summary": summary,
            "ratio_vs_baseline": ratios,
            "uncached_ids": hi - lo + 1,
            "uncached_miss_ratio": statistics.median(miss_ratio) if miss_ratio else None,
        }
    finally:
        kill_group(svc, signal.SIGTERM, 30)
        kill_group(base, signal.SIGTERM, 30)


# --------------------------------------------------------------------------- cold start


def cold_start(env: Env, smoke: bool) -> dict[str, Any]:
    times = []
    for _ in range(1 if smoke else 5):
        proc, _, secs = env.service()
        times.append(secs)
        kill_group(proc, signal.SIGTERM, 30)
    return {"seconds": times, "median_s": statistics.median(times)}


# --------------------------------------------------------------------------- drills


class Load:
    """Bounded client threads; each request on a fresh connection, outcomes recorded with a timestamp."""

    def __init__(self, port: int, threads: int, max_seconds: float, make_req: Any) -> None:
        self.port, self.make_req = port, make_req
        self.stop_evt = threading.Event()
        self.deadline = time.monotonic() + max_seconds
        self.lock = threading.Lock()
        self.events: list[tuple[float, str, Any]] = []  # (t, kind, detail)
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]
        self.t0 = time.monotonic()

    def _run(self, idx: int) -> None:
        n = 0
        while not self.stop_evt.is_set() and time.monotonic() < self.deadline and n < 100_000:
            n += 1
            method, path, body = self.make_req(idx, n)
            t = time.monotonic() - self.t0
            try:
                status, headers, data = request(self.port, method, path, body)
                rec = ("status", (status, headers.get("x-cache"), data if status == 201 else None))
            except ConnectionRefusedError:
                rec = ("refused", None)
                time.sleep(0.01)
            except Exception as exc:  # every other failure counts
                rec = ("error", type(exc).__name__)
            with self.lock:
                self.events.append((t, *rec))

    def __enter__(self) -> Load:
        for th in self.threads:
            th.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop_evt.set()
        for th in self.threads:
            th.join(HTTP_TIMEOUT + 5)

    def now(self) -> float:
        return time.monotonic() - self.t0


# Root keeps its capabilities, so the service's drop-SYN socket filter is permitted; the pod
# drops all capabilities, and some kernels (this one) then refuse the filter: run both.
DROP_CAPABILITIES = ("setpriv", "--inh-caps=-all", "--bounding-set=-all", "--")


def shutdown_variants() -> dict[str, tuple[str, ...]]:
    if os.geteuid() != 0:
        return {"unprivileged": ()}
    return {"root": (), "capabilities_dropped": DROP_CAPABILITIES}


def shutdown_drill(env: Env, smoke: bool) -> dict[str, Any]:
    reps = 1 if smoke else 3
    variants: dict[str, Any] = {}
    for name, prefix in shutdown_variants().items():
        runs = [shutdown_run(env, smoke, prefix) for _ in range(reps)]
        variants[name] = {
            "drills": len(runs),
            "failed_accepted": sum(r["failed_accepted"] for r in runs),
            "drills_with_failures": sum(1 for r in runs if r["failed_accepted"]),
            "lost_creates": sum(r["lost_creates"] for r in runs),
            "max_exit_s": max(r["exit_s"] for r in runs),
            "all_exited": all(r["exit_code"] is not None for r in runs),
            "new_handshakes_refused": [r["drain"].get("new_handshakes_refused") for r in runs],
            "runs": runs,
        }
    return {"grace_period_s": SHUTDOWN_GRACE_S, "log_level": "INFO", "variants": variants}


SHUTDOWN_GRACE_S = 5


def drain_record(log: Path) -> dict[str, Any]:
    """The service's "listen queue drained" log entry (connections taken, filter used)."""
    for line in log.read_text(errors="replace").splitlines():
        if '"listen queue' in line:
            entry = json.loads(line)
            return {k: v for k, v in entry.items() if k in ("msg", "connections", "new_handshakes_refused", "error")}
    return {}


def shutdown_run(env: Env, smoke: bool, prefix: tuple[str, ...]) -> dict[str, Any]:
    grace = SHUTDOWN_GRACE_S
    # INFO, the deployed level: the access log's work widens the window a handshake can be in flight.
    proc, port, _ = env.service(prefix, GRACEFUL_SHUTDOWN_TIMEOUT=str(grace), LOG_LEVEL="INFO")
    body = {"name": "shutdown", "quantity": 1}
    load_s = 1.0 if smoke else 3.0
    with Load(port, 8, load_s + grace + 10, lambda i, n: ("POST", "/api/v1/items", body) if n % 2 else ("GET", "/healthz", None)) as load:
        time.sleep(load_s)
        t_term = load.now()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            rc: int | None = proc.wait(grace + 10)
        except subprocess.TimeoutExpired:
            rc = None
        exit_s = load.now() - t_term
        time.sleep(0.3)
    kill_group(proc)
    events = load.events
    statuses = Counter(str(d[0]) for _, k, d in events if k == "status")
    errors = Counter(d for _, k, d in events if k == "error")
    error_times = sorted(round(t - t_term, 3) for t, k, _ in events if k == "error")
    refused = sum(1 for _, k, _ in events if k == "refused")
    failed = sum(errors.values()) + sum(n for s, n in statuses.items() if s.startswith("5"))
    acked = [json.loads(d[2])["id"] for _, k, d in events if k == "status" and d[0] == 201]
    lost = missing_ids(env, acked)
    return {
        "exit_code": None if rc is None else rc,
        "exit_s": exit_s,
        "statuses": dict(statuses),
        "errors": dict(errors),
        "error_started_s_after_sigterm": error_times[:20],
        "refused_after_close": refused,
        "failed_accepted": failed,
        "acked_creates": len(acked),
        "lost_creates": lost,
        "drain": drain_record(env.base / f"service-{port}.log"),
    }


def missing_ids(env: Env, ids: list[int]) -> int:
    if not ids:
        return 0
    with env.db.root(DB_NAME) as conn, conn.cursor() as cur:
        found: set[int] = set()
        cur.execute("SELECT id FROM items WHERE id BETWEEN %s AND %s", (min(ids), max(ids)))
        found.update(int(r[0]) for r in cur.fetchall())
    return len(set(ids) - found)


def redis_drill(env: Env, smoke: bool) -> dict[str, Any]:
    proc, port, _ = env.service()
    try:
        ids = [json.loads(request(port, "POST", "/api/v1/items", {"name": f"r{i}", "quantity": i})[2])["id"] for i in range(20)]
        down_s = 1.5 if smoke else 4.0
        with Load(port, 4, down_s + 30, lambda i, n: ("GET", f"/api/v1/items/{ids[(i * 7 + n) % len(ids)]}", None)) as load:
            time.sleep(0.5 if smoke else 2.0)
            t_kill = load.now()
            assert env.redis.proc is not None
            env.redis.proc.kill()  # SIGKILL: no goodbye to clients
            env.redis.proc.wait(10)
            env.redis.proc = None
            time.sleep(down_s)
            env.redis.start()
            t_back = load.now()
            # Cache hits resume: first hit after Redis is back (bounded).
            t_hit = None
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                with load.lock:
                    hit = [t for t, k, d in load.events if k == "status" and t > t_back and d[1] == "hit"]
                if hit:
                    t_hit = min(hit)
                    break
                time.sleep(0.05)
            time.sleep(0.5)
        events = load.events
        statuses = Counter(str(d[0]) for _, k, d in events if k == "status")
        during = Counter(str(d[0]) for t, k, d in events if k == "status" and t_kill <= t <= t_back)
        errors = Counter(d for _, k, d in events if k in ("error", "refused"))
        five = sum(n for s, n in statuses.items() if s.startswith("5"))
        return {
            "redis_down_s": t_back - t_kill,
            "statuses": dict(statuses),
            "statuses_during_outage": dict(during),
            "errors": dict(errors),
            "5xx": five,
            "hits_resumed_after_s": None if t_hit is None else t_hit - t_back,
        }
    finally:
        if not env.redis.running:
            env.redis.start()
        kill_group(proc, signal.SIGTERM, 30)


def mysql_drill(env: Env, smoke: bool) -> dict[str, Any]:
    proc, port, _ = env.service()
    try:
        ready: list[tuple[float, int | str]] = []
        stop = threading.Event()
        body = {"name": "outage", "quantity": 2}
        with Load(port, 4, 90, lambda i, n: ("POST", "/api/v1/items", body)) as load:

            def poll() -> None:
                n = 0
                while not stop.is_set() and n < 5000:
                    n += 1
                    try:
                        status = request(port, "GET", "/readyz", auth=False, timeout=5)[0]
                        ready.append((load.now(), status))  # stamped on the answer
                    except Exception as exc:
                        ready.append((load.now(), type(exc).__name__))
                    time.sleep(0.1)

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            time.sleep(0.5 if smoke else 2.0)
            t_stop = load.now()
            env.db.stop()  # SIGTERM, waits for exit
            t_down = load.now()
            time.sleep(1.5 if smoke else 4.0)
            t_restart = load.now()
            env.db.start()
            t_back = load.now()
            t_ready = None
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                ok = [t for t, s in list(ready) if t > t_back and s == 200]
                if ok:
                    t_ready = min(ok)
                    break
                time.sleep(0.05)
            time.sleep(0.5 if smoke else 2.0)
            stop.set()
            poller.join(10)
        events = load.events
        statuses = Counter(str(d[0]) for _, k, d in events if k == "status")
        errors = Counter(d for _, k, d in events if k in ("error", "refused"))
        acked = [json.loads(d[2])["id"] for _, k, d in events if k == "status" and d[0] == 201]
        outage = [s for t, s in ready if t_down + 1.0 <= t <= t_restart]  # answers stamped while the DB was down
        return {
            "db_stopping_s": t_down - t_stop,
            "db_down_s": t_back - t_down,
            "create_statuses": dict(statuses),
            "create_errors": dict(errors),
            "readyz_during_outage": dict(Counter(str(s) for s in outage)),
            "readyz_200_after_s": None if t_ready is None else t_ready - t_back,
            "acked_creates": len(acked),
            "lost_creates": missing_ids(env, acked),
        }
    finally:
        if not env.db.running:
            env.db.start()
        kill_group(proc, signal.SIGTERM, 30)


# --------------------------------------------------------------------------- offline timings


def timed(argv: list[str], cwd: Path, timeout: float) -> dict[str, Any]:
    t0 = time.monotonic()
    try:
        rc = subprocess.run(argv, check=False, cwd=cwd, capture_output=True, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    return {"seconds": time.monotonic() - t0, "exit_code": rc}


def offline_timings(base: Path, smoke: bool) -> dict[str, Any]:
    py = str(ROOT / ".venv" / "bin" / "python")
    out: dict[str, Any] = {}
    if not Path(py).exists():
        return {"skipped": ".venv missing (make venv)"}
    for stack in ("dev", "prod"):
        out[f"render_{stack}"] = timed([py, "-m", "offline.render", "--stack", stack, "--out", str(base / f"render-{stack}")], ROOT, 600)
    if not smoke:
        out["app_unit_tests"] = timed([str(APP_PY), "-m", "pytest", "tests", "-q", "-x", "-p", "no:cacheprovider"], APP, 900)
        # The Pulumi program's suite (mocks, offline engine, policy and deploy gates), as `make test-infra`.
        out["infra_unit_tests"] = timed([py, "-m", "pytest", "tests", "-q", "-x", "-p", "no:cacheprovider"], ROOT, 1800)
    return out


# --------------------------------------------------------------------------- report


def image_bench() -> dict[str, Any]:
    """bench/image.sh (buildah; real image vs naive single-stage) -> its build/bench/image.json."""
    out = OUT / "image.json"
    out.unlink(missing_ok=True)
    res = subprocess.run([str(BENCH / "image.sh")], check=False, capture_output=True, text=True, timeout=3600)
    if res.returncode != 0 or not out.exists():
        raise RuntimeError(f"bench/image.sh exit {res.returncode}: {res.stderr[-800:]}")
    return dict(json.loads(out.read_text()))


def image_step(results: dict[str, Any]) -> bool:
    """Full mode / --only image: results["image"]; True when it broke."""
    log("== image (bench/image.sh: real vs naive single-stage, cold/warm builds)")
    try:
        results["image"] = image_bench()
    except Exception as exc:
        traceback.print_exc()
        results["errors"].append(f"image: {type(exc).__name__}: {exc}")
        return True
    return False


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(name: str, target: str, measured: Any, ok: bool | None) -> None:
        rows.append({"target": name, "goal": target, "measured": measured, "pass": ok})

    tp = r.get("throughput")
    if tp:
        for conns in tp["connections"]:
            h = tp["ratio_vs_baseline"]["healthz"][str(conns)]
            c = tp["ratio_vs_baseline"]["cached_read"][str(conns)]
            add(f"/healthz vs baseline, c={conns}", ">= 0.8x", f"{h:.2f}x", h >= 0.8)
            add(f"cached read vs baseline, c={conns}", ">= 0.5x", f"{c:.2f}x", c >= 0.5)
    cs = r.get("cold_start")
    if cs:
        add("cold start to /readyz 200 (median)", "<= 2 s", f"{cs['median_s']:.2f} s", cs["median_s"] <= 2.0)
    sd = r.get("shutdown")
    if sd:
        for name, v in sd["variants"].items():
            add(
                f"SIGTERM under load ({name}): failed accepted requests",
                "0",
                f"{v['failed_accepted']} in {v['drills']} drills",
                v["failed_accepted"] == 0,
            )
            add(
                f"SIGTERM under load ({name}): exit within grace",
                f"<= {sd['grace_period_s']} s",
                f"{v['max_exit_s']:.2f} s (slowest)",
                v["all_exited"] and v["max_exit_s"] <= sd["grace_period_s"],
            )
            add(f"SIGTERM under load ({name}): acknowledged creates lost", "0", v["lost_creates"], v["lost_creates"] == 0)
    rd = r.get("redis_outage")
    if rd:
        add("Redis killed: 5xx on reads", "0", rd["5xx"], rd["5xx"] == 0 and not rd["errors"])
        hr = rd["hits_resumed_after_s"]
        add("Redis back: cache hits resume", "yes", "no" if hr is None else f"after {hr:.2f} s", hr is not None)
    md = r.get("mysql_outage")
    if md:
        during = md["readyz_during_outage"]
        add("MySQL down: /readyz 503", "503 only", json.dumps(during), bool(during) and set(during) == {"503"})
        ra = md["readyz_200_after_s"]
        add("MySQL back: /readyz 200", "<= 5 s", "never" if ra is None else f"{ra:.2f} s", ra is not None and ra <= 5)
        add("MySQL restart: acknowledged creates lost", "0", f"{md['lost_creates']} of {md['acked_creates']}", md["lost_creates"] == 0)
    im = r.get("image")
    if im:
        add(
            "image: added size over the base vs naive single-stage",
            "smaller",
            f"{im['real']['added_mb']} MB vs {im['naive']['added_mb']} MB ({im['added_ratio_real_vs_naive']:.2f}x)",
            im["real"]["added_mb"] < im["naive"]["added_mb"],
        )
        b = im["build"]
        add(
            "image: warm rebuild (code-only change) / cold build",
            "<= 0.15",
            f"{b['real_warm_s']} s / {b['real_cold_s']} s = {b['warm_over_cold']:.2f}",
            b["pass"],
        )
    else:
        add("image: added size vs naive single-stage", "-", "not run (full mode or --only image; bench/image.sh)", None)
    return rows


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
        mark = {True: "yes", False: "**NO**", None: "-"}[t["pass"]]
        lines.append(f"| {t['target']} | {t['goal']} | {t['measured']} | {mark} |")
    tp = r.get("throughput")
    if tp:
        lines += [
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
    ot = r.get("offline")
    if ot:
        lines += ["", "## Offline", "", "| Step | Seconds | Exit |", "| --- | --- | --- |"]
        for k, v in ot.items():
            if isinstance(v, dict):
                lines.append(f"| {k} | {v['seconds']:.1f} | {v['exit_code']} |")
    for key in ("shutdown", "redis_outage", "mysql_outage", "cold_start", "image"):
        if key in r:
            lines += ["", f"## {key}", "", "```json", json.dumps(r[key], indent=1, default=str), "```"]
    if r.get("errors"):
        lines += ["", "## Harness errors", ""] + [f"- {e}" for e in r["errors"]]
    return "\n".join(lines) + "\n"


def plots(smoke: bool) -> str:
    venv = ROOT / "build" / "bench-venv"
    py = venv / "bin" / "python"
    uv = ROOT / ".venv" / "bin" / "uv"
    try:
        if (
            subprocess.run([str(py), "-c", "import matplotlib"], check=False, capture_output=True, timeout=60).returncode != 0
            if py.exists()
            else True
        ):
            if not py.exists():
                subprocess.run([str(uv), "venv", "-q", str(venv)], check=True, timeout=120, capture_output=True)
            subprocess.run(
                [str(uv), "pip", "install", "-q", "--python", str(py), "matplotlib"], check=True, timeout=300, capture_output=True
            )
        res = subprocess.run(
            [str(py), str(BENCH / "plot.py"), str(OUT / "results.json"), str(OUT)], check=False, capture_output=True, text=True, timeout=120
        )
        return "ok" if res.returncode == 0 else f"plot failed: {res.stderr[-500:]}"
    except (subprocess.SubprocessError, OSError) as exc:
        return f"plots skipped: {type(exc).__name__}: {exc}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="each scenario briefly (c=16 only, 2 s runs, short drills)")
    ap.add_argument("--only", default="", help="subset: throughput,cold_start,shutdown,redis_outage,mysql_outage,offline,image")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "smoke": args.smoke,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": f"{os.cpu_count()} CPUs, {os.uname().sysname} {os.uname().release}",
        "errors": [],
    }
    steps = {
        "throughput": throughput,
        "cold_start": cold_start,
        "shutdown": shutdown_drill,
        "redis_outage": redis_drill,
        "mysql_outage": mysql_drill,
    }
    only = {s for s in args.only.split(",") if s}
    base = Path(tempfile.mkdtemp(prefix="bench-"))
    env = None
    broke = False
    try:
        env = Env(base)
        env.start()
        log(f"MariaDB :{env.db.port}, Redis :{env.redis.port}")
        for name, fn in steps.items():
            if only and name not in only:
                continue
            log(f"== {name}")
            t0 = time.monotonic()
            try:
                results[name] = fn(env, args.smoke)
                log(f"{name}: {json.dumps({k: v for k, v in results[name].items() if k not in ('summary',)}, default=str)[:600]}")
            except Exception as exc:
                broke = True
                traceback.print_exc()
                results["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
            log(f"{name} took {time.monotonic() - t0:.1f} s")
        if not only or "offline" in only:
            log("== offline render / unit tests")
            results["offline"] = offline_timings(base, args.smoke)
        if (not only and not args.smoke) or "image" in only:
            broke = image_step(results) or broke
    except Exception as exc:
        broke = True
        traceback.print_exc()
        results["errors"].append(f"setup: {type(exc).__name__}: {exc}")
    finally:
        if env is not None:
            env.close()
        shutil.rmtree(base, ignore_errors=True)
    results["targets"] = targets(results)
    (OUT / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    results["plots"] = plots(args.smoke)
    (OUT / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (OUT / "results.md").write_text(markdown(results))
    print(markdown(results))
    log(f"wrote {OUT / 'results.json'}, {OUT / 'results.md'} (plots: {results['plots']})")
    return 1 if broke else 0


if __name__ == "__main__":
    sys.exit(main())
