"""The real process: uvicorn, JSON logs on stdout, SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli import service_env
from tests.conftest import TEST_DB
from tests.servers import MariaDB, RedisServer, free_port

API_KEY = "server-key-" + "k" * 32
SECRET_KEY = "server-secret-" + "s" * 32
READY_TIMEOUT_SECONDS = 30.0


class Server:
    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"

    def stop(self, timeout: float = 30) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        stdout, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, stdout


@pytest.fixture
def server(mariadb: MariaDB, redis_server: RedisServer, migrated: None, tmp_path: Path) -> Iterator[Server]:
    yield from run_server(mariadb, redis_server, tmp_path, workers=1)


@pytest.fixture
def two_worker_server(mariadb: MariaDB, redis_server: RedisServer, migrated: None, tmp_path: Path) -> Iterator[Server]:
    yield from run_server(mariadb, redis_server, tmp_path, workers=2)


def run_server(mariadb: MariaDB, redis_server: RedisServer, tmp_path: Path, workers: int) -> Iterator[Server]:
    # Secrets only as files, the way Kubernetes mounts them.
    (tmp_path / "db_password").write_text(mariadb.password + "\n")
    (tmp_path / "redis_password").write_text(redis_server.password + "\n")
    (tmp_path / "api_keys").write_text(API_KEY + "\n")
    (tmp_path / "secret_key").write_text(SECRET_KEY + "\n")
    port = free_port()
    env = service_env(
        tmp_path,
        app_env="dev",
        service_host="127.0.0.1",
        service_port=str(port),
        workers=str(workers),
        graceful_shutdown_timeout="5",
        db_host="127.0.0.1",
        db_port=str(mariadb.port),
        db_name=TEST_DB,
        db_user=mariadb.user,
        redis_host="127.0.0.1",
        redis_port=str(redis_server.port),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "service"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    srv = Server(proc, port)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(srv.url + "/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail(f"server not ready: {proc.communicate(timeout=10)[0]}")
    try:
        yield srv
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def exercise(srv: Server) -> None:
    with httpx.Client(base_url=srv.url, timeout=5) as c:
        c.get("/api/v1/items", headers={"Authorization": f"Bearer {API_KEY}"})
        c.get("/api/v1/items", headers={"Authorization": "Bearer wrong-key"})
        c.post("/api/v1/items", json={"name": "x"}, headers={"Authorization": f"Bearer {API_KEY}"})
        c.get("/metrics")


# uvicorn re-raises SIGTERM after its graceful shutdown, so the status is "killed by SIGTERM"
# (143 to Kubernetes) once the lifespan has closed cleanly.
STOPPED_BY_SIGTERM = (0, -signal.SIGTERM)


def test_server_logs_one_json_object_per_line_with_request_ids(server: Server) -> None:
    exercise(server)
    _, stdout = server.stop()
    entries = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    access = [e for e in entries if e["logger"] == "service.access"]
    assert len(access) >= 4
    assert all(len(e["request_id"]) == 32 and "status" in e for e in access)


def test_server_logs_contain_no_secret_values(server: Server, mariadb: MariaDB, redis_server: RedisServer) -> None:
    exercise(server)
    _, stdout = server.stop()
    for secret in (mariadb.password, redis_server.password, API_KEY, SECRET_KEY):
        assert secret not in stdout
    assert "***@" in stdout  # the DSN is logged at start, redacted


def test_sigterm_finishes_an_in_flight_request_then_exits(server: Server) -> None:
    body = json.dumps({"name": "in flight"}).encode()
    head = (
        "POST /api/v1/items HTTP/1.1\r\nHost: service\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # Half the body: the request is in flight when SIGTERM arrives.
        sock.sendall(head + body[:5])
        time.sleep(0.3)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        sock.sendall(body[5:])
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    code, stdout = server.stop(timeout=15)
    assert response.startswith(b"HTTP/1.1 201 ")
    assert code in STOPPED_BY_SIGTERM
    assert "service stopped" in stdout


def listener_closed(port: int, timeout: float = 10.0) -> bool:
    """Wait until new connections are refused: shutdown has closed the listener (and begun draining)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.05):
                pass
        except ConnectionRefusedError:
            return True
        except TimeoutError:
            pass  # new SYNs dropped while the listen queue drains
        time.sleep(0.02)
    return False


def test_sigterm_serves_a_request_sent_on_a_connection_accepted_before_it(server: Server) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        time.sleep(0.3)  # accepted by the server, no request yet: uvicorn alone would close it on SIGTERM
        server.proc.send_signal(signal.SIGTERM)
        assert listener_closed(port)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: service\r\n\r\n")
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    code, _ = server.stop(timeout=15)
    head = response.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 200 ")
    assert b"connection: close" in head.split(b"\r\n")
    assert code in STOPPED_BY_SIGTERM


def test_sigterm_takes_the_listen_queue_before_closing_the_listener(server: Server) -> None:
    _, stdout = server.stop()
    drained = [e for e in map(json.loads, filter(str.strip, stdout.splitlines())) if e["msg"] == "listen queue drained"]
    assert len(drained) == 1
    assert drained[0]["connections"] == 0  # nothing was connecting
    assert "not drained" not in stdout


def test_two_workers_serve_then_each_stops_cleanly_on_sigterm(two_worker_server: Server) -> None:
    statuses = {httpx.get(two_worker_server.url + "/readyz", timeout=5).status_code for _ in range(20)}
    code, stdout = two_worker_server.stop()
    assert statuses == {200}
    assert code in STOPPED_BY_SIGTERM
    assert stdout.count('"service stopped"') == 2
