"""Fixtures: the stacks run once each under the offline engine, shared by every test."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path

import pytest

from offline.engine import StackRun, run_stack

STACKS = ("dev", "prod")


@cache
def _run(stack: str, config_file: Path | None = None, secrets: tuple[tuple[str, str], ...] = ()) -> StackRun:
    return run_stack(stack, config_file=config_file, secrets=dict(secrets))


@pytest.fixture(params=STACKS)
def stack_run(request: pytest.FixtureRequest) -> StackRun:
    """The stack as committed (Pulumi.<stack>.yaml), for each stack."""
    return _run(request.param)


@pytest.fixture
def dev_run() -> StackRun:
    return _run("dev")


@pytest.fixture
def prod_run() -> StackRun:
    return _run("prod")


@pytest.fixture
def run_with(tmp_path: Path) -> Callable[..., StackRun]:
    """Run a stack with config overrides: `run_with("dev", {"mysql": {...}}, secrets={...})`.

    Overrides replace whole top-level keys of the stack file (as `pulumi config set` would).
    """
    import yaml

    def run(stack: str, overrides: Mapping[str, object] | None = None, secrets: Mapping[str, str] | None = None) -> StackRun:
        document = yaml.safe_load(Path(f"Pulumi.{stack}.yaml").read_text())
        for key, value in (overrides or {}).items():
            document["config"][f"fastapi-service:{key}"] = value
        config_file = tmp_path / f"Pulumi.{stack}.yaml"
        config_file.write_text(yaml.safe_dump(document))
        return run_stack(stack, config_file=config_file, secrets=secrets)

    return run
