"""What the live tests' client pods run (`python -c <this file> ACTION ARG...`, standard library
only, in the app image): requests to the stack as a pod in the cluster makes them. Each action
prints one JSON object on stdout. Loops are bounded by their seconds and stop early when the file
/tmp/stop exists.

    tcp HOST PORT SECONDS            can a TCP connection be made (and how it failed)
    dns NAME                         the addresses NAME resolves to
    http METHOD URL TOKEN [BODY]     one request: status, X-Cache, body
    import URL TOKEN ITEMS SECONDS   one bulk import, polled until it ends
    load URL TOKEN IDS SECONDS       reads of IDS, creates and /healthz in a loop: statuses per second
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from typing import Any

STOP_FILE = "/tmp/stop"


def _request(method: str, url: str, token: str, body: Any = None, timeout: float = 5.0) -> tuple[int, dict[str, str], str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - the Service's in-cluster URL
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return answer.status, {name.lower(): value for name, value in answer.headers.items()}, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, {name.lower(): value for name, value in error.headers.items()}, error.read().decode(errors="replace")


def tcp(host: str, port: str, seconds: str) -> dict[str, Any]:
    started = time.monotonic()
    try:
        with socket.create_connection((host, int(port)), timeout=float(seconds)):
            return {"connected": True, "seconds": round(time.monotonic() - started, 2)}
    except TimeoutError:
        return {"connected": False, "error": "timeout", "seconds": round(time.monotonic() - started, 2)}
    except OSError as error:
        return {"connected": False, "error": type(error).__name__, "detail": str(error), "seconds": round(time.monotonic() - started, 2)}


def dns(name: str) -> dict[str, Any]:
    try:
        return {"addresses": sorted({info[4][0] for info in socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)})}
    except OSError as error:
        return {"addresses": [], "error": str(error)}


def http(method: str, url: str, token: str, body: str = "") -> dict[str, Any]:
    status, headers, text = _request(method, url, token, json.loads(body) if body else None)
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        parsed = text
    return {"status": status, "cache": headers.get("x-cache"), "body": parsed}


def bulk_import(url: str, token: str, items: str, seconds: str) -> dict[str, Any]:
    count, deadline = int(items), time.monotonic() + float(seconds)
    body = {"items": [{"name": f"imported {n}", "quantity": n} for n in range(count)]}
    status, _, text = _request("POST", f"{url}/api/v1/imports", token, body, timeout=30)
    if status != 202:
        return {"accepted": False, "status": status, "body": text}
    job = json.loads(text)
    while time.monotonic() < deadline:
        status, _, text = _request("GET", f"{url}/api/v1/imports/{job['id']}", token)
        if status == 200:
            job = json.loads(text)
            if job["state"] in {"succeeded", "failed"}:
                break
        time.sleep(0.5)
    return {"accepted": True, "job": job}


def load(url: str, token: str, ids: str, seconds: str) -> dict[str, Any]:
    """Reads of the given items, a create and a /healthz per round, until the stop file or the time is up."""
    item_ids = [int(item) for item in ids.split(",") if item]
    statuses: Counter[str] = Counter()
    per_second: dict[int, Counter[str]] = {}
    created: list[int] = []
    failures: list[str] = []
    unexpected: list[dict[str, Any]] = []  # what the first non-2xx answers said, and when
    started = time.monotonic()
    deadline = started + float(seconds)
    round_number = 0
    while time.monotonic() < deadline and not os.path.exists(STOP_FILE):
        round_number += 1
        calls = [("GET", f"{url}/healthz", None), ("POST", f"{url}/api/v1/items", {"name": f"load {round_number}", "quantity": 1})]
        calls += [("GET", f"{url}/api/v1/items/{item}", None) for item in item_ids]
        for method, target, body in calls:
            second = int(time.monotonic() - started)
            try:
                status, _, text = _request(method, target, token, body)
                key = str(status)
                if status == 201:
                    created.append(json.loads(text)["id"])
                elif status >= 300 and len(unexpected) < 20:
                    unexpected.append({"second": second, "call": f"{method} {target}", "status": status, "body": text[:300]})
            except (OSError, ValueError) as error:  # a reset or refused connection: a failed request
                key = type(error).__name__
                if len(failures) < 20:
                    failures.append(f"{method} {target}: {error}")
            statuses[key] += 1
            per_second.setdefault(second, Counter())[key] += 1
        time.sleep(0.05)
    return {
        "statuses": dict(statuses),
        "per_second": {str(second): dict(counts) for second, counts in sorted(per_second.items())},
        "created": created,
        "failures": failures,
        "unexpected": unexpected,
        "seconds": round(time.monotonic() - started, 1),
    }


ACTIONS: dict[str, Callable[..., dict[str, Any]]] = {"tcp": tcp, "dns": dns, "http": http, "import": bulk_import, "load": load}

if __name__ == "__main__":
    print(json.dumps(ACTIONS[sys.argv[1]](*sys.argv[2:])))
