"""Fixtures: the committed stacks under the offline engine (run once each), and variants."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from components.config import StackConfig
from offline.engine import StackRun
from tests.support.stacks import STACKS, committed, committed_config, with_overrides


@pytest.fixture(params=STACKS)
def stack_run(request: pytest.FixtureRequest) -> StackRun:
    """Each committed stack, run."""
    return committed(request.param)


@pytest.fixture
def stack_config(stack_run: StackRun) -> StackConfig:
    """The parsed config of `stack_run`'s stack."""
    return committed_config(stack_run.stack)


@pytest.fixture
def dev_run() -> StackRun:
    return committed("dev")


@pytest.fixture
def prod_run() -> StackRun:
    return committed("prod")


@pytest.fixture
def run_with(tmp_path: Path) -> Callable[..., StackRun]:
    """Run a stack with config overrides: `run_with("dev", {"mysql": {...}}, secrets={...})`."""

    def run(stack: str, overrides: Mapping[str, object] | None = None, secrets: Mapping[str, str] | None = None) -> StackRun:
        return with_overrides(stack, tmp_path, overrides, secrets)

    return run
