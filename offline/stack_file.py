"""Reading `Pulumi.<stack>.yaml` (and the project's defaults) the way the offline engine needs:
every key with the line it is on, every problem found in one pass, never a traceback.

Pulumi reads the stack file itself under the real engine; here the offline engine does, so
YAML mistakes are reported with their file, line and column, duplicate keys are errors (YAML
would keep the last one silently), and top-level keys Pulumi does not know are named.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# What Pulumi accepts at a stack file's top level.
TOP_LEVEL_KEYS = ("config", "encryptionsalt", "secretsprovider", "encryptedkey", "environment")


@dataclass(frozen=True)
class Located:
    """A problem in a file, at a line and column (1-based; 0 when the whole file is meant)."""

    path: Path
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        where = f"{self.path.name}:{self.line}:{self.column}" if self.line else self.path.name
        return f"{where}: {self.message}"


class StackFileError(Exception):
    def __init__(self, problems: list[Located]) -> None:
        self.problems = problems
        count = len(problems)
        lines = [f"the stack file cannot be read ({count} problem{'s' * (count != 1)}):"]
        lines += [f"  - {problem}" for problem in problems]
        super().__init__("\n".join(lines))


@dataclass
class StackFile:
    """The keys under `config:` (`namespace:key` -> value), which are `secure:`, and where each sits."""

    path: Path
    values: dict[str, Any] = field(default_factory=dict)
    secure: set[str] = field(default_factory=set)
    lines: dict[str, int] = field(default_factory=dict)  # "namespace:key.path" -> line

    def line_of(self, key_path: str) -> int | None:
        """The line of `namespace:key.sub.path`, or of its nearest parent that is in the file."""
        while key_path:
            if key_path in self.lines:
                return self.lines[key_path]
            if "." not in key_path and "[" not in key_path:
                return None
            key_path = key_path.rsplit(".", 1)[0] if "." in key_path else key_path.rsplit("[", 1)[0]
        return None


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and remembers where every mapping key is."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                first = seen[key].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first}): YAML would keep only the last", key_node.start_mark
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def read(path: Path) -> StackFile:
    """Parse a stack file; raise StackFileError with every problem found."""
    stack_file = StackFile(path)
    node, document = _parse(path, _text(path))
    if document is None:
        return stack_file  # an empty stack file: no config
    if not isinstance(document, dict):
        raise StackFileError([Located(path, 1, 1, f"the top level must be a mapping (config: ...), not {_kind(document)}")])
    problems = [
        Located(path, _line(node, [key]), 1, f"unknown top-level key {key!r}{_suggest(str(key), TOP_LEVEL_KEYS)}")
        for key in document
        if key not in TOP_LEVEL_KEYS
    ]
    config = document.get("config") or {}
    if not isinstance(config, dict):
        problems.append(Located(path, _line(node, ["config"]), 1, f"'config' must be a mapping of keys, not {_kind(config)}"))
        config = {}
    for key, value in config.items():
        if not isinstance(key, str) or ":" not in key:
            problems.append(Located(path, _line(node, ["config", key]), 3, f"config key {key!r} needs a namespace ('<project>:{key}')"))
            continue
        if isinstance(value, dict) and set(value) == {"secure"}:
            stack_file.secure.add(key)
        stack_file.values[key] = value
    if problems:
        raise StackFileError(problems)
    _record_lines(node, stack_file)
    return stack_file


def _text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise StackFileError([Located(path, 0, 0, f"cannot be read: {error.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise StackFileError([Located(path, 0, 0, f"is not UTF-8 text (byte {error.start} is {raw[error.start]:#04x})")]) from None
    if "\x00" in text:
        raise StackFileError([Located(path, 0, 0, "is not a text file (it contains NUL bytes)")])
    return text


def _parse(path: Path, text: str) -> tuple[yaml.Node | None, Any]:
    try:
        return yaml.compose(text, Loader=_Loader), yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as error:
        raise StackFileError([_located(path, error)]) from None
    except yaml.YAMLError as error:
        raise StackFileError([Located(path, 0, 0, f"is not valid YAML: {error}")]) from None


def config_text(value: Any) -> str:
    """Pulumi hands structured config to programs as JSON text, scalars as their string form."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def project_defaults(project_file: Path) -> tuple[str, dict[str, Any]]:
    """The project's name and the defaults its `config:` declares (`namespace:key` -> value)."""
    project = yaml.safe_load(project_file.read_text())
    name = project["name"]
    defaults = {}
    for key, declaration in (project.get("config") or {}).items():
        full_key = key if ":" in key else f"{name}:{key}"
        if isinstance(declaration, dict) and "default" in declaration:
            defaults[full_key] = declaration["default"]
    return name, defaults


# ---------------------------------------------------------------------------------------


def _located(path: Path, error: yaml.MarkedYAMLError) -> Located:
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    message = error.problem or str(error)
    if error.context:
        message = f"{error.context}: {message}"
    if mark is not None and mark.buffer:
        at = mark.buffer[mark.pointer : mark.pointer + 1]
        if at == "\t" or "'\\t'" in message:
            message += " (indent with spaces: YAML does not allow tabs)"
        elif at == "*" or "alias" in message:
            message += " (a value starting with '*' must be quoted, e.g. schedule: \"*/30 * * * *\")"
    return Located(path, line, column, message)


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(type(value), type(value).__name__)


def _suggest(word: str, known: Any) -> str:
    match = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _line(node: yaml.Node | None, path: list[Any]) -> int:
    """The line of the key at `path` (its last element's key node)."""
    parent = _find(node, path[:-1])
    if isinstance(parent, yaml.MappingNode):
        for key_node, _ in parent.value:
            if key_node.value == str(path[-1]):
                return int(key_node.start_mark.line) + 1
    return 1


def _find(node: yaml.Node | None, path: list[Any]) -> yaml.Node | None:
    for part in path:
        if not isinstance(node, yaml.MappingNode):
            return None
        for key_node, value_node in node.value:
            if key_node.value == str(part):
                node = value_node
                break
        else:
            return None
    return node


def _record_lines(document: yaml.Node | None, stack_file: StackFile) -> None:
    config = _find(document, ["config"])
    if not isinstance(config, yaml.MappingNode):
        return

    def walk(node: yaml.Node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
                stack_file.lines[key] = key_node.start_mark.line + 1
                walk(value_node, key)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                key = f"{prefix}[{index}]"
                stack_file.lines[key] = item.start_mark.line + 1
                walk(item, key)

    walk(config, "")
