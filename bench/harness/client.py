"""Requests to the service under test, each on a fresh connection, and bounded polling."""

from __future__ import annotations

import http.client
import json
import subprocess
import time
from typing import Any

from bench.harness.credentials import AUTHORIZATION

HTTP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.01


def request(
    port: int, method: str, path: str, body: Any = None, *, timeout: float = HTTP_TIMEOUT_S, auth: bool = True
) -> tuple[int, dict[str, str], bytes]:
    """(status, lower-cased headers, body). Raises ConnectionRefusedError when the connect fails.

    A fresh connection per request keeps a refused connect (never an accepted request) apart
    from a failure after the server accepted.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Authorization": AUTHORIZATION} if auth else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.connect()
        except ConnectionError as exc:
            raise ConnectionRefusedError(str(exc)) from exc
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def wait_status(port: int, path: str, want: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> float | None:
    """Seconds until `path` answers `want`; None after `timeout` or when `proc` exits first."""
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
        time.sleep(POLL_INTERVAL_S)
    return None


def create_item(port: int, name: str, quantity: int) -> int:
    """POST one item through the API; its id."""
    status, _, body = request(port, "POST", "/api/v1/items", {"name": name, "quantity": quantity})
    if status != 201:
        raise RuntimeError(f"create answered {status}: {body[:200]!r}")
    return int(json.loads(body)["id"])


def start_import(port: int, items: list[dict[str, Any]]) -> int:
    """POST one bulk import through the API; its job id (RuntimeError unless 202)."""
    status, _, body = request(port, "POST", "/api/v1/imports", {"items": items})
    if status != 202:
        raise RuntimeError(f"import answered {status}: {body[:200]!r}")
    return int(json.loads(body)["id"])
