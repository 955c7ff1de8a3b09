"""The image: tagged by build-context content, pushed per stack, credentials secret."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from components.image import APP_DIR, content_tag
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


def test_build_inputs_follow_the_stack(stack_run: StackRun) -> None:
    (image,) = stack_run.of_type("docker:index/image:Image")
    inputs = image.inputs
    assert inputs["imageName"].endswith(":" + content_tag(APP_DIR))
    assert inputs["build"]["platform"] == "linux/amd64"
    assert {"PYTHON_IMAGE", "UV_IMAGE"} <= set(inputs["build"]["args"])
    assert inputs["skipPush"] is (stack_run.stack == "dev")


def test_registry_password_reaches_the_build_only_as_a_secret(run_with: Callable[..., StackRun]) -> None:
    image = {"registry": "registry.example.com", "repository": "team/api", "push": True, "registryUsername": "bot"}
    run = run_with("dev", {"image": image}, secrets={"registryPassword": "registry-token-canary"})
    (build,) = run.of_type("docker:index/image:Image")
    assert "registry-token-canary" in build.secret_values()
    assert build.inputs["registry"]["username"] == "bot"


def test_prebuilt_mode_builds_nothing_and_runs_the_reference(run_with: Callable[..., StackRun]) -> None:
    reference = "registry.example.com/team/api@sha256:" + "a" * 64
    run = run_with("dev", {"image": {"mode": "prebuilt", "reference": reference}})
    assert run.of_type("docker:index/image:Image") == []
    assert run.outputs["image"] == reference
