"""Offline steps a user waits for: the renders of both stacks, and in full mode both unit-test suites."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from bench.harness.testbed import Testbed
from bench.paths import APP, APP_PYTHON, INFRA_PYTHON, ROOT

RENDER_TIMEOUT_S = 600
APP_TESTS_TIMEOUT_S = 900
INFRA_TESTS_TIMEOUT_S = 1800
PYTEST = ("-m", "pytest", "tests", "-q", "-x", "-p", "no:cacheprovider")


def run(testbed: Testbed, smoke: bool) -> dict[str, Any]:
    if not INFRA_PYTHON.exists():
        return {"skipped": ".venv missing (make venv)"}
    py = str(INFRA_PYTHON)
    out: dict[str, Any] = {}
    for stack in ("dev", "prod"):
        render = [py, "-m", "offline.render", "--stack", stack, "--out", str(testbed.base / f"render-{stack}")]
        out[f"render_{stack}"] = _timed(render, ROOT, RENDER_TIMEOUT_S)
    if not smoke:
        out["app_unit_tests"] = _timed([str(APP_PYTHON), *PYTEST], APP, APP_TESTS_TIMEOUT_S)
        # The Pulumi program's suite (mocks, offline engine, policy and deploy gates), as `make test-infra`.
        out["infra_unit_tests"] = _timed([py, *PYTEST], ROOT, INFRA_TESTS_TIMEOUT_S)
    return out


def _timed(argv: list[str], cwd: Path, timeout: float) -> dict[str, Any]:
    """Wall-clock seconds and exit code ("timeout" when it ran out of time)."""
    start = time.monotonic()
    rc: int | str
    try:
        rc = subprocess.run(argv, check=False, cwd=cwd, capture_output=True, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    return {"seconds": time.monotonic() - start, "exit_code": rc}
