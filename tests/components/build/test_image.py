"""The image: tagged by build-context content, pushed per stack, credentials secret."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from components.config import StackConfig
from components.build.image import APP_DIR, content_tag
from offline.engine import StackRun


@pytest.fixture
def context(tmp_path: Path) -> Path:
    copy = tmp_path / "app"
    shutil.copytree(APP_DIR, copy, ignore=shutil.ignore_patterns(".venv", "__pycache__", ".*_cache"))
    return copy


def test_same_sources_give_the_same_tag(context: Path) -> None:
    assert content_tag(context) == content_tag(APP_DIR)


def test_one_changed_source_file_gives_a_new_tag(context: Path) -> None:
    before = content_tag(context)
    main = context / "src" / "service" / "main.py"
    main.write_text(main.read_text() + "\n# a change the build sees\n")
    assert content_tag(context) != before


def test_a_file_excluded_by_dockerignore_keeps_the_tag(context: Path) -> None:
    assert (context / ".dockerignore").is_file(), "app/.dockerignore defines the build context"
    before = content_tag(context)
    (context / "tests").mkdir(exist_ok=True)
    (context / "tests" / "test_new.py").write_text("def test_x() -> None: ...\n")
    (context / "notes.pyc").write_bytes(b"\0")
    assert content_tag(context) == before


def test_build_inputs_follow_the_stack(stack_run: StackRun, stack_config: StackConfig) -> None:
    (image,) = stack_run.of_type("docker:index/image:Image")
    inputs, config = image.inputs, stack_config.image
    assert inputs["imageName"] == f"{config.registry}/{config.repository}:{content_tag(APP_DIR)}"
    assert inputs["build"]["platform"] == config.platform
    assert inputs["skipPush"] is not config.push


def test_base_images_default_to_the_dockerfiles_pins(run_with: Callable[..., StackRun]) -> None:
    # One place for their versions: the Dockerfile's ARG defaults, unless a stack overrides them.
    (default_build,) = run_with("dev").of_type("docker:index/image:Image")
    assert "PYTHON_IMAGE" not in (default_build.inputs["build"].get("args") or {})
    assert "ARG PYTHON_IMAGE=" in (APP_DIR / "Dockerfile").read_text()
    override = {"mode": "build", "pythonImage": "python:3.12.99-slim-bookworm"}
    (overridden,) = run_with("dev", {"image": override}).of_type("docker:index/image:Image")
    assert overridden.inputs["build"]["args"] == {"PYTHON_IMAGE": "python:3.12.99-slim-bookworm"}


def test_prebuilt_mode_builds_nothing_and_runs_the_reference(run_with: Callable[..., StackRun]) -> None:
    reference = "registry.example.com/team/api@sha256:" + "a" * 64
    run = run_with("dev", {"image": {"mode": "prebuilt", "reference": reference}})
    assert run.of_type("docker:index/image:Image") == []
    assert run.outputs["image"] == reference
