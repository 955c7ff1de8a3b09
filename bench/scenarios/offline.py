"""Offline steps a user waits for: the renders of both stacks, and in full mode the app's checks as
`make test-app` runs them (ruff, ruff format, mypy, pytest). A step that fails fails the bench.

The infra suite (the repository root's tests/) is not timed here.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from bench.harness.testbed import Testbed
from bench.paths import APP, INFRA_PYTHON, ROOT, UV

RENDER_TIMEOUT_S = 600
APP_CHECK_TIMEOUT_S = 900
OUTPUT_KEPT = 1500
# `make test-app`: the same commands, in app/, on the app's locked environment.
APP_CHECKS = {
    "app_ruff": ["ruff", "check", "."],
    "app_ruff_format": ["ruff", "format", "--check", "."],
    "app_mypy": ["mypy"],
    "app_pytest": ["pytest", "-q", "-p", "no:cacheprovider"],
}


class CommandFailedError(RuntimeError):
    """A timed command exited non-zero or ran out of time."""


def run(testbed: Testbed, smoke: bool) -> dict[str, Any]:
    if not INFRA_PYTHON.exists():
        raise CommandFailedError(f"{INFRA_PYTHON} missing (make venv)")
    py = str(INFRA_PYTHON)
    out: dict[str, Any] = {}
    for stack in ("dev", "prod"):
        render = [py, "-m", "offline.render", "--stack", stack, "--out", str(testbed.base / f"render-{stack}")]
        out[f"render_{stack}"] = _timed(render, ROOT, RENDER_TIMEOUT_S)
    if not smoke:
        for name, check in APP_CHECKS.items():
            out[name] = _timed([str(UV), "run", "--frozen", "--quiet", *check], APP, APP_CHECK_TIMEOUT_S)
    return out


def _timed(argv: list[str], cwd: Path, timeout: float) -> dict[str, Any]:
    """Wall-clock seconds and exit code; CommandFailedError when it fails."""
    start = time.monotonic()
    try:
        res = subprocess.run(argv, check=False, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise CommandFailedError(f"{' '.join(argv)} (in {cwd}): no exit within {timeout:g} s") from exc
    if res.returncode != 0:
        tail = (res.stdout + res.stderr)[-OUTPUT_KEPT:]
        raise CommandFailedError(f"{' '.join(argv)} (in {cwd}) exit {res.returncode}:\n{tail}")
    return {"seconds": time.monotonic() - start, "exit_code": res.returncode}
