"""The system under test: private MariaDB and Redis, the service's secrets, and the service and
baseline processes started against them, each logging to a file in the testbed's directory."""

from __future__ import annotations

import os
import subprocess
import time
import traceback
from pathlib import Path
from typing import NamedTuple, NoReturn

from bench.harness.client import wait_status
from bench.harness.credentials import API_KEY
from bench.harness.processes import kill_group
from bench.harness.servers import MariaDB, RedisServer, free_port
from bench.paths import APP, APP_PYTHON, BENCH

DATABASE = "bench"
READY_TIMEOUT_S = 30.0
MIGRATE_TIMEOUT_S = 120
COMPILE_TIMEOUT_S = 600
# The worker's log line once it consumes (READY_MESSAGE in app/src/service/jobs/worker.py, as JSON).
WORKER_READY_LINE = '"msg": "worker ready"'
WORKER_POLL_S = 0.05

# The service's uvicorn settings (app/src/service/__main__.py), so the baseline differs only in the app.
BASELINE_UVICORN_FLAGS = (
    "--workers", "1",
    "--loop", "uvloop",
    "--http", "httptools",
    "--lifespan", "on",
    "--proxy-headers",
    "--forwarded-allow-ips", "127.0.0.1",
    "--timeout-graceful-shutdown", "20",
    "--no-access-log",
    "--no-server-header",
    "--log-level", "warning",
)  # fmt: skip


def compile_bytecode() -> None:
    """Compile the app's venv and sources to .pyc, as the image is (UV_COMPILE_BYTECODE=1).

    Without it every start of the service compiles its ~450 modules again (the environment may set
    PYTHONDONTWRITEBYTECODE, so nothing is ever written), and the cold start measures the compiler.
    """
    argv = [str(APP_PYTHON), "-m", "compileall", "-q", "-j0", str(APP / ".venv" / "lib"), str(APP / "src")]
    res = subprocess.run(argv, capture_output=True, timeout=COMPILE_TIMEOUT_S, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"compileall exit {res.returncode}: {res.stdout.decode(errors='replace')[-800:]}")


class Started(NamedTuple):
    proc: subprocess.Popen[bytes]
    port: int
    ready_s: float  # exec to the first 200 on the readiness path
    log: Path


class StartedWorker(NamedTuple):
    proc: subprocess.Popen[bytes]
    ready_s: float  # exec to its "worker ready" log line
    log: Path


class Testbed:
    """Private MariaDB + Redis in `base`, a secrets dir, and the processes started against them."""

    def __init__(self, base: Path) -> None:
        self.base = base
        (base / "mariadb").mkdir()
        (base / "redis").mkdir()
        # Each raises, naming the missing binary and its Debian package, when one is not installed.
        self.db = MariaDB(base / "mariadb")
        self.redis = RedisServer(base / "redis")
        self.secrets = base / "secrets"
        self.secrets.mkdir()
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        """The app's bytecode compiled, servers up, secrets written, schema migrated."""
        compile_bytecode()
        self.db.start()
        self.db.setup_user()
        self.db.create_database(DATABASE)
        self.redis.start()
        for name, value in {
            "db_password": self.db.password,
            "redis_password": self.redis.password,
            "api_keys": API_KEY,
        }.items():
            (self.secrets / name).write_text(value + "\n")
        rc = subprocess.run(
            [str(APP_PYTHON), "-m", "service", "migrate"],
            env=self.service_env(free_port()),
            cwd=APP,
            capture_output=True,
            timeout=MIGRATE_TIMEOUT_S,
            check=False,
        )
        if rc.returncode != 0:
            raise RuntimeError(f"migrate failed: {rc.stderr.decode(errors='replace')}")

    def service_env(self, port: int, **extra: str) -> dict[str, str]:
        """The service's environment: dev mode, one worker, this testbed's servers and secrets."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "REDIS_", "API_KEYS", "SECRET"))}
        env.update(
            APP_ENV="dev",
            LOG_LEVEL="WARNING",
            SERVICE_HOST="127.0.0.1",
            SERVICE_PORT=str(port),
            WORKERS="1",
            DB_HOST="127.0.0.1",
            DB_PORT=str(self.db.port),
            DB_NAME=DATABASE,
            DB_USER=self.db.user,
            REDIS_HOST="127.0.0.1",
            REDIS_PORT=str(self.redis.port),
            SECRETS_DIR=str(self.secrets),
        )
        env.update(extra)
        return env

    def log_path(self, name: str) -> Path:
        return self.base / f"{name}.log"

    def spawn(self, argv: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        """Start `argv` in a session of its own (killed by group), output to log_path(name)."""
        with self.log_path(name).open("ab") as logf:
            proc = subprocess.Popen(argv, env=env, cwd=APP, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def service(self, prefix: tuple[str, ...] = (), **extra: str) -> Started:
        """Start `python -m service` (behind `prefix`, a wrapper that execs it) and wait for /readyz."""
        port = free_port()
        name = f"service-{port}"
        start = time.monotonic()
        proc = self.spawn([*prefix, str(APP_PYTHON), "-m", "service"], self.service_env(port, **extra), name)
        if wait_status(port, "/readyz", 200, READY_TIMEOUT_S, proc) is None:
            self._not_ready("service", proc, name)
        return Started(proc, port, time.monotonic() - start, self.log_path(name))

    def worker(self, **extra: str) -> StartedWorker:
        """Start `python -m service worker` (LOG_LEVEL=INFO, no metrics server) and wait until it consumes."""
        name = f"worker-{len(self.procs)}"
        env = self.service_env(
            free_port(),  # unused: a worker serves no HTTP but its metrics, off here
            LOG_LEVEL="INFO",
            WORKER_METRICS_PORT="0",
            WORKER_HEARTBEAT_FILE=str(self.base / f"{name}.heartbeat"),
            **extra,
        )
        start = time.monotonic()
        proc = self.spawn([str(APP_PYTHON), "-m", "service", "worker"], env, name)
        log = self.log_path(name)
        deadline = start + READY_TIMEOUT_S
        while WORKER_READY_LINE not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                self._not_ready("worker", proc, name)
            time.sleep(WORKER_POLL_S)
        return StartedWorker(proc, time.monotonic() - start, log)

    def baseline(self) -> Started:
        """Start the bare FastAPI baseline (bench/baseline.py) and wait for its /healthz."""
        port = free_port()
        name = f"baseline-{port}"
        argv = [
            str(APP_PYTHON), "-m", "uvicorn", "baseline:app",
            "--app-dir", str(BENCH),
            "--host", "127.0.0.1",
            "--port", str(port),
            *BASELINE_UVICORN_FLAGS,
        ]  # fmt: skip
        start = time.monotonic()
        proc = self.spawn(argv, self.service_env(port), name)
        if wait_status(port, "/healthz", 200, READY_TIMEOUT_S, proc) is None:
            self._not_ready("baseline", proc, name)
        return Started(proc, port, time.monotonic() - start, self.log_path(name))

    def _not_ready(self, what: str, proc: subprocess.Popen[bytes], name: str) -> NoReturn:
        code = proc.poll()
        kill_group(proc)
        how = f"exited with {code}" if code is not None else f"not ready in {READY_TIMEOUT_S} s"
        raise RuntimeError(f"{what} {how}: {self.tail(name)}")

    def tail(self, name: str) -> str:
        try:
            return "\n".join(self.log_path(name).read_text(errors="replace").splitlines()[-20:])
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
