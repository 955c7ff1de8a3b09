"""The image: bench/image.sh builds the real image and a naive single-stage one with buildah."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from bench.harness.testbed import Testbed
from bench.paths import BENCH, OUT

TIMEOUT_S = 3600
STDERR_KEPT = 800


def run(testbed: Testbed, smoke: bool) -> dict[str, Any]:
    """image.sh's report, build/bench/image.json. The testbed is not used."""
    report = OUT / "image.json"
    report.unlink(missing_ok=True)
    res = subprocess.run([str(BENCH / "image.sh")], check=False, capture_output=True, text=True, timeout=TIMEOUT_S)
    if res.returncode != 0 or not report.exists():
        raise RuntimeError(f"bench/image.sh exit {res.returncode}: {res.stderr[-STDERR_KEPT:]}")
    return dict(json.loads(report.read_text()))
