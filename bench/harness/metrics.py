"""The service's cache counters, read from its Prometheus `/metrics`."""

from __future__ import annotations

import re

from bench.harness.client import request

CACHE_REQUESTS = re.compile(r'^service_cache_requests_total\{result="(\w+)"\}\s+([\d.e+]+)', re.M)


def cache_counts(port: int) -> dict[str, float]:
    """{"hit": n, "miss": n, ...} since the service started."""
    _, _, body = request(port, "GET", "/metrics", auth=False)
    counts = {"hit": 0.0, "miss": 0.0}
    for m in CACHE_REQUESTS.finditer(body.decode()):
        counts[m.group(1)] = float(m.group(2))
    return counts
