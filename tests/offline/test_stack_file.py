"""Reading stack files: every mistake a hand-edited YAML file can hold is named with its line and
column, and nothing crashes on any input."""

from __future__ import annotations

from pathlib import Path

import pytest

from offline.stack_file import StackFileError, read

BAD_FILES = [
    pytest.param(
        "config:\n\tfastapi-service:namespace: x\n",
        "2:1: while scanning for the next token: found character '\\t' that cannot start any token "
        "(indent with spaces: YAML does not allow tabs)",
        id="tab",
    ),
    pytest.param(
        "config:\n  fastapi-service:mysql: {backup: {schedule: */30 * * * *}}\n",
        "2:47: while scanning an alias: expected alphabetic or numeric character, but found '/' "
        "(a value starting with '*' must be quoted, e.g. schedule: \"*/30 * * * *\")",
        id="unquoted-cron",
    ),
    pytest.param(
        "config: {fastapi-service:app: {replicas: 2}\n",
        "2:1: while parsing a flow mapping: expected ',' or '}', but got '<stream end>'",
        id="unclosed-brace",
    ),
    pytest.param(
        "config:\n  fastapi-service:namespace: a\n  fastapi-service:namespace: b\n",
        "3:3: duplicate key 'fastapi-service:namespace' (first at line 2): YAML would keep only the last",
        id="duplicate-key",
    ),
    pytest.param(
        "confg:\n  fastapi-service:namespace: x\n", "1:1: unknown top-level key 'confg' (did you mean 'config'?)", id="misspelt-config"
    ),
    pytest.param("- config\n", "1:1: the top level must be a mapping (config: ...), not a list", id="top-level-list"),
    pytest.param("config: [a, b]\n", "1:1: 'config' must be a mapping of keys, not a list", id="config-list"),
    pytest.param(
        "config:\n  namespace: x\n", "2:3: config key 'namespace' needs a namespace ('<project>:namespace')", id="key-without-namespace"
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_a_broken_stack_file_is_reported_with_line_and_column(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(text)
    with pytest.raises(StackFileError) as raised:
        read(path)
    assert [str(problem) for problem in raised.value.problems] == [f"Pulumi.dev.yaml:{message}"]


def test_binary_junk_is_reported_not_parsed(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_bytes(b"config:\n  \xff\xfe\x00junk")
    with pytest.raises(StackFileError, match=r"Pulumi.dev.yaml: is not UTF-8 text \(byte 10 is 0xff\)"):
        read(path)


def test_nul_bytes_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_bytes(b"config:\x00\n")
    with pytest.raises(StackFileError, match="it contains NUL bytes"):
        read(path)


def test_an_empty_file_is_a_stack_without_config(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("")
    assert read(path).values == {}


def test_every_key_knows_its_line(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("config:\n  fastapi-service:app:\n    replicas: 2\n    corsOrigins:\n      - https://a.example.com\n")
    parsed = read(path)
    assert parsed.line_of("fastapi-service:app.replicas") == 3
    assert parsed.line_of("fastapi-service:app.corsOrigins[0]") == 5
    assert parsed.line_of("fastapi-service:app.resources.limits.cpu") == 2  # not in the file: its nearest parent
    assert parsed.line_of("fastapi-service:namespace") is None
