"""The service's own code, asked from the infra tests: values computed in the app's venv (its routes,
its settings, its tracing switch), so the stack is checked against what the app really reads."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from offline.paths import PROJECT_ROOT

APP_DIR = PROJECT_ROOT / "app"
APP_PYTHON = APP_DIR / ".venv" / "bin" / "python"


def from_the_app(expression: str) -> Any:
    """`expression` evaluated by the service's code, in its own venv (service.main, service.config and
    service.tracing imported); JSON in, JSON out."""
    if not APP_PYTHON.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("app/.venv is missing: run `make test` (it syncs the app env first)")
        pytest.skip("app/.venv is missing: `cd app && uv sync` to check the stack against the app")
    script = f"import json, service.main, service.config, service.tracing; print(json.dumps({expression}))"
    return json.loads(subprocess.run([str(APP_PYTHON), "-c", script], check=True, capture_output=True, text=True, cwd=APP_DIR).stdout)
