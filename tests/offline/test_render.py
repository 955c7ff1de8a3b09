"""`make render`: safe (it never deletes or overwrites a file it did not write), reproducible
(the same config gives the same bytes, wherever the checkout lives) and clear about bad input."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from offline import render, render_dir
from offline.paths import PROJECT_ROOT


def _render(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = render.main(["--no-checkov", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _tree(directory: Path) -> dict[str, bytes]:
    return {str(path.relative_to(directory)): path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()}


# ---------------------------------------------------------------------------------------
# Safety


@pytest.mark.parametrize("stack", ["../prod", "dev/../../etc", "", "-dev", "dev prod"])
def test_a_stack_that_is_not_a_plain_name_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, stack: str) -> None:
    code, output = _render(capsys, f"--stack={stack}", "--out", str(tmp_path / "out"))
    assert code == 2
    assert "is not a stack name" in output
    assert not (tmp_path / "out").exists()


def test_a_directory_holding_other_files_is_refused_and_left_untouched(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # OUT=. once deleted Pulumi.yaml and both stack files: a checkout-like directory must survive.
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "notes.yaml"):
        (tmp_path / name).write_text(f"# {name}\n")
    before = _tree(tmp_path)
    code, output = _render(capsys, "--stack", "dev", "--out", str(tmp_path))
    assert code == 2
    assert "already holds files this tool did not write" in output
    assert _tree(tmp_path) == before


def test_rerendering_replaces_only_its_own_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _render(capsys, "--stack", "prod", "--out", str(out))[0] == 0
    prod_files = set(_tree(out))
    assert _render(capsys, "--stack", "dev", "--out", str(out))[0] == 0
    dev_files = set(_tree(out))
    assert render_dir.MARKER in dev_files
    assert dev_files != prod_files  # prod-only objects (HPA, Ingress, CronJob) are gone
    assert not [name for name in dev_files if "horizontalpodautoscaler" in name]


def test_a_required_secret_not_yet_set_is_rendered_with_a_placeholder_and_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # prod needs a repository password a user keeps (no generated one): the render goes on, and says so.
    code, output = _render(capsys, "--stack", "prod", "--out", str(tmp_path / "out"))
    assert code == 0
    notes = [line.strip() for line in output.splitlines() if line.strip().startswith("note:") and "is not set" in line]
    assert notes == [
        f"note: {key} is not set; a placeholder stands in (set it with 'pulumi config set --secret {key}' before pulumi up)"
        for key in ("backupRepositoryPassword", "backupS3SecretKey")
    ]


def test_a_file_added_to_the_render_directory_stops_the_next_render(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _render(capsys, "--stack", "dev", "--out", str(out))[0] == 0
    (out / "my-notes.txt").write_text("mine")
    before = _tree(out)
    code, output = _render(capsys, "--stack", "dev", "--out", str(out))
    assert code == 2
    assert "holds files this tool did not write (my-notes.txt)" in output
    assert _tree(out) == before


# ---------------------------------------------------------------------------------------
# Bad input


JUNK = [
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00binary", id="binary"),
    pytest.param(b"", id="empty"),
    pytest.param(b"config: {\n", id="unclosed-brace"),
    pytest.param(b"config:\n  fastapi-service:app: {replicas: [\n", id="unclosed-list"),
    pytest.param(b"config:\n  fastapi-service:namespace: [1, 2]\n", id="namespace-list"),
    pytest.param(b"config:\n  fastapi-service:app: 7\n  fastapi-service:mysql: null\n", id="sections-not-mappings"),
    pytest.param(b"---\nconfig: {}\n---\nconfig: {}\n", id="two-documents"),
    pytest.param(b"config: !!python/object:os.system {}\n", id="unsafe-tag"),
]


@pytest.mark.parametrize("content", JUNK)
def test_no_input_makes_render_crash_or_write(capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes) -> None:
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_bytes(content)
    code, output = _render(capsys, "--stack", "dev", "--config", str(stack_file), "--out", str(tmp_path / "out"))
    assert code == 2
    assert "error:" in output
    assert "Traceback" not in output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_config_problems_point_at_their_lines(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text("config:\n  fastapi-service:namespace: fastapi-dev\n  fastapi-service:app:\n    replicas: 0\n")
    code, output = _render(capsys, "--stack", "dev", "--config", str(stack_file), "--out", str(tmp_path / "out"))
    assert code == 2
    assert "  - Pulumi.dev.yaml:4: fastapi-service:app.replicas: must be at least 1, got 0" in output


# ---------------------------------------------------------------------------------------
# Reproducible

CHECKOUT = (
    "Pulumi.yaml",
    "Pulumi.dev.yaml",
    "Pulumi.prod.yaml",
    "__main__.py",
    "components",
    "offline",
    "app",
    "scripts/crds",
    "scripts/lib",
)
IGNORED = shutil.ignore_patterns(".venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache")


def _checkout(target: Path) -> Path:
    target.mkdir(parents=True)
    for name in CHECKOUT:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=IGNORED)
        else:
            shutil.copy2(source, target / name)
    return target


def _render_in(checkout: Path, stack: str) -> Path:
    out = checkout / "build" / "render" / stack
    completed = subprocess.run(
        [sys.executable, "-m", "offline.render", "--stack", stack, "--no-checkov"],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return out


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_two_checkouts_render_byte_identical_files(tmp_path: Path, stack: str) -> None:
    first = _render_in(_checkout(tmp_path / "a"), stack)
    second = _render_in(_checkout(tmp_path / "elsewhere" / "deeper" / "b"), stack)
    comparison = filecmp.dircmp(first, second)
    assert sorted(comparison.left_only + comparison.right_only + comparison.diff_files) == []
    assert _tree(first) == _tree(second)
    again = _tree(_render_in(first.parent.parent.parent, stack))
    assert again == _tree(first)
