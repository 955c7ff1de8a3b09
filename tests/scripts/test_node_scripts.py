"""scripts/node: what can be checked without starting a node (scripts/node/smoke.sh checks a running one).

up.sh resets its run directory and down.sh undoes a record: neither may touch a directory they
do not own. Every image is built from a recipe that says what it stands in for, and every
placeholder of the node's manifests is one up.sh fills in.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from offline.paths import PROJECT_ROOT

NODE = PROJECT_ROOT / "scripts" / "node"
RECIPES = sorted((NODE / "images").glob("*/Containerfile"))


def test_a_run_directory_holding_foreign_files_is_refused_and_left_untouched(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    foreign = run_dir / "kubeconfig"
    foreign.write_text("someone's kubeconfig")

    result = subprocess.run([str(NODE / "up.sh"), str(run_dir)], capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode != 0
    assert result.stdout == ""
    assert f"{run_dir} holds files up.sh did not write" in result.stderr or "lacks what a node needs" in result.stderr
    assert foreign.read_text() == "someone's kubeconfig"
    assert sorted(path.name for path in run_dir.iterdir()) == ["kubeconfig"]


def test_down_without_a_node_does_nothing(tmp_path: Path) -> None:
    result = subprocess.run([str(NODE / "down.sh"), str(tmp_path)], capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0
    assert "nothing to stop" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("recipe", RECIPES, ids=[path.parent.name for path in RECIPES])
def test_every_image_recipe_first_says_what_it_stands_in_for(recipe: Path) -> None:
    first_line = recipe.read_text().splitlines()[0]

    assert first_line.startswith("# Stands in for "), first_line


def test_every_manifest_placeholder_is_filled_in_by_up_sh() -> None:
    up = (NODE / "up.sh").read_text()
    exported = set(re.findall(r"\b([A-Z][A-Z0-9_]+)\b", up[up.index("export_manifest_env()") :]))
    placeholders = {name for path in (NODE / "manifests").glob("*.yaml") for name in re.findall(r"@([A-Z0-9_]+)@", path.read_text())}

    assert placeholders
    assert placeholders <= exported, placeholders - exported


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_every_shell_script_in_the_repository_passes_shellcheck() -> None:
    """Warnings and errors fail; each script's `source` lines are followed (-x), so a helper
    that moves out of scripts/lib/ or a variable only a sourced file reads is caught."""
    listed = subprocess.run(["git", "ls-files", "*.sh"], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    scripts = listed.stdout.split()
    assert "scripts/lib/common.sh" in scripts

    result = subprocess.run(
        ["shellcheck", "-x", "--severity=warning", *scripts], capture_output=True, text=True, timeout=300, check=False, cwd=PROJECT_ROOT
    )

    assert result.returncode == 0, result.stdout
