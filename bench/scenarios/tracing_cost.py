"""What tracing costs: /healthz and a cached item read with tracing on against the same service
with it off (the default), both running side by side and measured in alternation, so the
machine's noise hits them alike.

On, the service exports over OTLP/HTTP (the standard variables, as the stack sets them) to a sink
in this process that answers 200 and counts what it got; its count proves the spans were made and
sent. Two samplings: every trace kept (the worst case, `tracing.sampleRatio: 1`) and one in ten
(`0.1`: unsampled requests get non-recording spans). /healthz makes no span by design: its ratio is
the cost of deciding that. The read's is the cost of a server span and a Redis span per request.
"""

from __future__ import annotations

import signal
import statistics
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.harness.client import create_item
from bench.harness.log import log
from bench.harness.processes import kill_group
from bench.harness.testbed import Testbed
from bench.load.wrk import WrkRun, wrk
from testservers.process import serving

STOP_WAIT_S = 30
CONNECTIONS = (16, 64)
WORKLOADS = ("healthz", "cached_read")


# mode ("off", "on", "sampled") -> workload -> connections -> the repetitions' wrk runs
Runs = dict[str, dict[str, dict[int, list[WrkRun]]]]


@dataclass(frozen=True)
class Settings:
    seconds_per_run: int
    repetitions: int


FULL = Settings(seconds_per_run=5, repetitions=3)
SMOKE = Settings(seconds_per_run=2, repetitions=1)


class _Sink:
    """Counts OTLP/HTTP export requests and their bytes; answers each 200 with an empty body
    (a valid, empty ExportTraceServiceResponse)."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the http.server protocol's name
                size = len(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                with sink._lock:
                    sink.requests += 1
                    sink.bytes += size
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # the base class's signature
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"


@contextmanager
def _sink() -> Iterator[_Sink]:
    sink = _Sink()
    with serving(sink.server, "otlp-sink"):
        yield sink


def run(testbed: Testbed, smoke: bool) -> dict[str, Any]:
    s = SMOKE if smoke else FULL
    with _sink() as sink:
        traced_env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_SERVICE_NAME": "bench-api",
            "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        }
        sampled_env = {**traced_env, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
        services = {"off": testbed.service(), "on": testbed.service((), **traced_env), "sampled": testbed.service((), **sampled_env)}
        try:
            urls = {}
            for mode, started in services.items():
                item = create_item(started.port, f"traced-{mode}", 1)  # write-through: every read a Redis hit
                base = f"http://127.0.0.1:{started.port}"
                urls[mode] = {"healthz": f"{base}/healthz", "cached_read": f"{base}/api/v1/items/{item}"}
            runs: Runs = {mode: {w: {c: [] for c in CONNECTIONS} for w in WORKLOADS} for mode in services}
            for mode in services:  # warm-up, unmeasured
                for workload in WORKLOADS:
                    wrk(urls[mode][workload], 16, 1)
            for rep in range(s.repetitions):
                for conns in CONNECTIONS:
                    for workload in WORKLOADS:
                        for mode in services:
                            result = wrk(urls[mode][workload], conns, s.seconds_per_run)
                            runs[mode][workload][conns].append(result)
                            log(f"rep {rep + 1}/{s.repetitions} c={conns:<3} {workload:<12} tracing {mode:<3} {result['rps']:9.1f} req/s")
        finally:
            for started in services.values():
                kill_group(started.proc, signal.SIGTERM, STOP_WAIT_S)  # SIGTERM: the on-service flushes its last batch
        return {
            "connections": list(CONNECTIONS),
            "repetitions": s.repetitions,
            "seconds_per_run": s.seconds_per_run,
            "ratio_on_over_off": _ratios(runs, "on"),
            "ratio_on_runs": _ratio_runs(runs, "on"),
            "ratio_sampled_over_off": _ratios(runs, "sampled"),
            "ratio_sampled_runs": _ratio_runs(runs, "sampled"),
            "rps": _medians(runs),
            "errors": sum(r["non2xx"] + r["socket_errors"] for r in _every_run(runs)),
            "exports": {"requests": sink.requests, "bytes": sink.bytes},
        }


def _every_run(runs: Runs) -> Iterator[WrkRun]:
    for by_workload in runs.values():
        for by_conns in by_workload.values():
            for results in by_conns.values():
                yield from results


def _medians(runs: Runs) -> dict[str, dict[str, dict[str, float]]]:
    """Median req/s per mode, workload and connection count."""
    return {
        mode: {
            workload: {str(c): statistics.median(r["rps"] for r in rs) for c, rs in by_conns.items()} for workload, by_conns in ws.items()
        }
        for mode, ws in runs.items()
    }


def _ratio_runs(runs: Runs, mode: str) -> dict[str, dict[str, list[float]]]:
    """Per workload and connection count: `mode` over tracing off, repetition by repetition."""
    ratios: dict[str, dict[str, list[float]]] = {}
    for workload in WORKLOADS:
        ratios[workload] = {}
        for conns in CONNECTIONS:
            pairs = zip(runs[mode][workload][conns], runs["off"][workload][conns], strict=True)
            ratios[workload][str(conns)] = [on["rps"] / off["rps"] for on, off in pairs if off["rps"]]
    return ratios


def _ratios(runs: Runs, mode: str) -> dict[str, dict[str, float]]:
    return {
        w: {c: statistics.median(values) if values else 0.0 for c, values in by_c.items()} for w, by_c in _ratio_runs(runs, mode).items()
    }
