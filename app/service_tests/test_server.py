"""The real process: uvicorn, JSON logs on stdout, SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.logs import REDACTED
from service.main import STOPPED_MESSAGE
from service.server import QUEUE_DRAINED_MESSAGE
from service_tests.process import ServiceProcess, running_service
from service_tests.testbed import API_KEY
from testservers import MariaDB, RedisServer

# uvicorn re-raises SIGTERM after its graceful shutdown, so the status is "killed by SIGTERM"
# (143 to Kubernetes) once the lifespan has closed cleanly.
STOPPED_BY_SIGTERM = (0, -signal.SIGTERM)
# What README promises of request ids in the logs.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@pytest.fixture
def server(mariadb: MariaDB, redis_server: RedisServer, migrated: None, tmp_path: Path) -> Iterator[ServiceProcess]:
    with running_service(mariadb, redis_server, tmp_path) as service:
        yield service


def log_entries(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def exercise(service: ServiceProcess) -> None:
    with httpx.Client(base_url=service.url, timeout=5) as c:
        c.get("/api/v1/items", headers={"Authorization": f"Bearer {API_KEY}"})
        c.get("/api/v1/items", headers={"Authorization": "Bearer wrong-key"})
        c.post("/api/v1/items", json={"name": "x"}, headers={"Authorization": f"Bearer {API_KEY}"})
        c.get("/metrics")


def test_server_logs_one_json_object_per_line_with_request_ids(server: ServiceProcess) -> None:
    exercise(server)
    _, stdout = server.stop()
    access = [e for e in log_entries(stdout) if e["logger"] == "service.access"]
    assert len(access) >= 4
    assert all(SAFE_REQUEST_ID.fullmatch(e["request_id"]) and "status" in e for e in access)


def test_server_logs_contain_no_secret_values(
    server: ServiceProcess, mariadb: MariaDB, redis_server: RedisServer
) -> None:
    exercise(server)
    _, stdout = server.stop()
    for secret in (mariadb.password, redis_server.password, API_KEY):
        assert secret not in stdout
    assert f"{REDACTED}@" in stdout  # the DSN is logged at start, redacted


def test_sigterm_finishes_an_in_flight_request_then_exits(server: ServiceProcess) -> None:
    body = json.dumps({"name": "in flight"}).encode()
    head = (
        "POST /api/v1/items HTTP/1.1\r\nHost: service\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        # Half the body: the request is in flight when SIGTERM arrives.
        sock.sendall(head + body[:5])
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        sock.sendall(body[5:])
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    code, stdout = server.stop(timeout=15)
    assert response.startswith(b"HTTP/1.1 201 ")
    assert code in STOPPED_BY_SIGTERM
    assert STOPPED_MESSAGE in [e["msg"] for e in log_entries(stdout)]


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
            pass  # a busy machine: try again
        time.sleep(0.02)
    return False


def test_sigterm_serves_a_request_sent_on_a_connection_accepted_before_it(server: ServiceProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        time.sleep(0.3)  # accepted by the server, no request yet: uvicorn alone would close it on SIGTERM
        server.process.send_signal(signal.SIGTERM)
        assert listener_closed(server.port)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: service\r\n\r\n")
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    code, _ = server.stop(timeout=15)
    head = response.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 200 ")
    assert b"connection: close" in head.split(b"\r\n")
    assert code in STOPPED_BY_SIGTERM


def test_sigterm_takes_the_listen_queue_before_closing_the_listener(server: ServiceProcess) -> None:
    _, stdout = server.stop()
    drained = [e for e in log_entries(stdout) if e["msg"] == QUEUE_DRAINED_MESSAGE]
    assert len(drained) == 1
    assert drained[0]["connections"] == 0  # nothing was connecting


def test_graceful_drain_false_runs_stock_uvicorn(
    mariadb: MariaDB, redis_server: RedisServer, migrated: None, tmp_path: Path
) -> None:
    with running_service(mariadb, redis_server, tmp_path, graceful_drain="false") as service:
        with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
            time.sleep(0.3)  # accepted by the server, no request yet
            service.process.send_signal(signal.SIGTERM)
            assert listener_closed(service.port)
            response = b""
            try:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: service\r\n\r\n")
                while chunk := sock.recv(65536):
                    response += chunk
            except ConnectionResetError:
                pass
        code, stdout = service.stop()
    assert response == b""  # stock uvicorn closed the idle connection at SIGTERM, unserved
    assert code in STOPPED_BY_SIGTERM
    messages = [e["msg"] for e in log_entries(stdout)]
    assert STOPPED_MESSAGE in messages
    assert QUEUE_DRAINED_MESSAGE not in messages


def test_two_workers_serve_then_each_stops_cleanly_on_sigterm(
    mariadb: MariaDB, redis_server: RedisServer, migrated: None, tmp_path: Path
) -> None:
    with running_service(mariadb, redis_server, tmp_path, workers="2") as service:
        statuses = {httpx.get(service.url + "/readyz", timeout=5).status_code for _ in range(20)}
        code, stdout = service.stop()
    assert statuses == {httpx.codes.OK}
    assert code in STOPPED_BY_SIGTERM
    assert [e["msg"] for e in log_entries(stdout)].count(STOPPED_MESSAGE) == 2
