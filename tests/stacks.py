"""The committed stacks, run once each under the offline engine, and variants of them."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path

import yaml

from components.config import PROJECT, StackConfig
from offline.engine import PROJECT_ROOT, StackRun, run_stack, stack_settings

STACKS = ("dev", "prod")


@cache
def committed(stack: str) -> StackRun:
    """The stack as committed (Pulumi.<stack>.yaml)."""
    return run_stack(stack)


@cache
def committed_config(stack: str) -> StackConfig:
    """The committed stack's parsed config, the source of truth tests compare objects with, with
    placeholders for the secrets a user sets before `pulumi up` (as the offline engine assumes them)."""
    return stack_settings(stack)


def with_overrides(
    stack: str, directory: Path, overrides: Mapping[str, object] | None = None, secrets: Mapping[str, str] | None = None
) -> StackRun:
    """The stack with whole top-level keys replaced (as `pulumi config set` would; None removes
    one, as `pulumi config rm`) and secrets set."""
    document = yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text())
    for key, value in (overrides or {}).items():
        if value is None:
            document["config"].pop(f"{PROJECT}:{key}", None)
        else:
            document["config"][f"{PROJECT}:{key}"] = value
    config_file = directory / f"Pulumi.{stack}.yaml"
    config_file.write_text(yaml.safe_dump(document))
    return run_stack(stack, config_file=config_file, secrets=secrets)
