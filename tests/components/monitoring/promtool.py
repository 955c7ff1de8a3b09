"""promtool (Prometheus's rule checker), built by scripts/lint-tools/build.sh into its cache."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

from offline.paths import PROJECT_ROOT

BUILD = PROJECT_ROOT / "scripts" / "lint-tools" / "build.sh"


@functools.cache
def promtool() -> Path:
    """PROMTOOL if set, else the pinned build (instant once `make lint` built it; built here otherwise)."""
    if os.environ.get("PROMTOOL"):
        return Path(os.environ["PROMTOOL"])
    done = subprocess.run([str(BUILD), "promtool"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/lint-tools/build.sh promtool failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1]) / "promtool"


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(promtool()), *map(str, args)], capture_output=True, text=True, cwd=cwd, check=False)
