"""The scenarios, in the order they run; each one's result is its key in results.json."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.harness.testbed import Testbed
from bench.scenarios import cold_start, image, mysql_outage, offline, redis_outage, shutdown, throughput


@dataclass(frozen=True)
class Scenario:
    name: str  # its results.json key and --only value
    title: str  # the progress line announcing it
    run: Callable[[Testbed, bool], dict[str, Any]]  # (testbed, smoke) -> its results
    in_smoke: bool = True  # False: full mode or --only


SCENARIOS = (
    Scenario("throughput", "throughput", throughput.run),
    Scenario("cold_start", "cold_start", cold_start.run),
    Scenario("shutdown", "shutdown", shutdown.run),
    Scenario("redis_outage", "redis_outage", redis_outage.run),
    Scenario("mysql_outage", "mysql_outage", mysql_outage.run),
    Scenario("offline", "offline render / unit tests", offline.run),
    # Builds take minutes and need buildah.
    Scenario("image", "image (bench/image.sh: real vs naive single-stage, cold/warm builds)", image.run, in_smoke=False),
)
NAMES = tuple(s.name for s in SCENARIOS)
