"""Run ``python -m service`` in a subprocess with a controlled environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Variables of the test runner's own shell must not leak into the service under test.
_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def service_env(secrets_dir: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _KEEP}
    env["SECRETS_DIR"] = str(secrets_dir)
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k.upper(): v for k, v in settings.items()})
    return env


def run_service(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
