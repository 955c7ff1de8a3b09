"""The committed stacks, run once each under the offline engine, and variants of them.

One rule for variants everywhere (offline runs, flat config, the live tests' stack files): an
override replaces a whole top-level key, as `pulumi config set` would; None removes it, as
`pulumi config rm`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from components.config import PROJECT, StackConfig
from offline import stack_file
from offline.engine import StackRun, run_stack
from offline.paths import PROJECT_ROOT
from offline.stack_config import committed_stacks, stack_settings

STACKS = committed_stacks()


@cache
def committed(stack: str) -> StackRun:
    """The stack as committed (Pulumi.<stack>.yaml)."""
    return run_stack(stack)


@cache
def committed_config(stack: str) -> StackConfig:
    """The committed stack's parsed config, the source of truth tests compare objects with, with
    placeholders for the secrets a user sets before `pulumi up` (as the offline engine assumes them)."""
    return stack_settings(stack)


def overridden(config: Mapping[str, Any], overrides: Mapping[str, object] | None) -> dict[str, Any]:
    """`config` (keys `project:key` or bare) with whole keys replaced by `overrides` (None removes one)."""
    result = dict(config)
    for key, value in (overrides or {}).items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if value is None:
            result.pop(full_key, None)
        else:
            result[full_key] = value
    return result


def stack_document(stack: str, overrides: Mapping[str, object] | None = None) -> dict[str, Any]:
    """The committed Pulumi.<stack>.yaml as a document, overridden."""
    document: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text())
    document["config"] = overridden(document["config"], overrides)
    return document


def with_overrides(
    stack: str, directory: Path, overrides: Mapping[str, object] | None = None, secrets: Mapping[str, str] | None = None
) -> StackRun:
    """The stack run with `overrides` and `secrets` set (its stack file written into `directory`)."""
    config_file = directory / f"Pulumi.{stack}.yaml"
    config_file.write_text(yaml.safe_dump(stack_document(stack, overrides)))
    return run_stack(stack, config_file=config_file, secrets=secrets)


def flat_config(stack: str, overrides: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The committed stack's keys and the project defaults as Pulumi passes them (`project:key` -> text), overridden."""
    _, values = stack_file.project_defaults(PROJECT_ROOT / "Pulumi.yaml")
    values.update(stack_file.read(PROJECT_ROOT / f"Pulumi.{stack}.yaml").values)
    return {key: stack_file.config_text(value) for key, value in overridden(values, overrides).items()}
