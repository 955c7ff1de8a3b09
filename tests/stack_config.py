"""A stack's config as Pulumi passes it to the program (`namespace:key` -> text), with overrides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.config import PROJECT
from offline import stack_file
from offline.engine import PROJECT_ROOT


def flat_config(stack: str, overrides: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The committed stack's keys and the project defaults; an override replaces a whole key (None removes it)."""
    _, values = stack_file.project_defaults(PROJECT_ROOT / "Pulumi.yaml")
    values.update(stack_file.read(PROJECT_ROOT / f"Pulumi.{stack}.yaml").values)
    for key, value in (overrides or {}).items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if value is None:
            values.pop(full_key, None)
        else:
            values[full_key] = value
    return {key: stack_file.config_text(value) for key, value in values.items()}
