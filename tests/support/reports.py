"""The live tests' figures (under build/): what each phase of a stack's run took (a report, not an assert)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol


class Timed(Protocol):
    @property
    def seconds(self) -> float: ...


def write_phase_seconds(directory: Path, stack: str, phases: Mapping[str, Timed], **extra: Any) -> Path:
    """<directory>/<stack>.json: each phase's wall time, and any further figures."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stack}.json"
    seconds = {name: round(result.seconds, 2) for name, result in phases.items()}
    path.write_text(json.dumps({"stack": stack, "seconds": seconds, **extra}, indent=2) + "\n")
    return path
