"""The Docker build context as the daemon sees it: files after `.dockerignore`, and their hash.

The image tag is this hash, so an unchanged app means an unchanged tag (no rebuild, no diff
on `pulumi up`) and any change a build could see means a new tag.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path


@cache
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus '**') as a regex over '/'-separated paths."""
    regex = ""
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            index += 2
            if pattern.startswith("/", index):
                index += 1
                regex += "(?:.*/)?"
            else:
                regex += ".*"
            continue
        if char == "*":
            regex += "[^/]*"
        elif char == "?":
            regex += "[^/]"
        elif char == "[":
            end = pattern.find("]", index)
            if end == -1:
                regex += re.escape(char)
            else:
                regex += "[" + pattern[index + 1 : end].replace("!", "^", 1) + "]"
                index = end
        else:
            regex += re.escape(char)
        index += 1
    # A pattern matching a directory excludes everything below it.
    return re.compile(f"^{regex}(?:/.*)?$")


def read_dockerignore(context: Path) -> list[tuple[bool, str]]:
    """(is_exception, pattern) rules in order; later rules win, as in Docker."""
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    rules = []
    for raw_line in path.read_text().splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = line.removeprefix("!").strip().lstrip("/").removeprefix("./").rstrip("/")
        if pattern:
            rules.append((exception, pattern))
    return rules


def is_ignored(relative_path: str, rules: list[tuple[bool, str]]) -> bool:
    ignored = False
    for exception, pattern in rules:
        if _pattern_regex(pattern).match(relative_path):
            ignored = not exception
    return ignored


def context_files(context: Path) -> Iterator[Path]:
    """Every file the build can see, in a stable order. (.dockerignore itself is always sent.)"""
    rules = read_dockerignore(context)
    for path in sorted(context.rglob("*")):
        if path.is_file() and not is_ignored(path.relative_to(context).as_posix(), rules):
            yield path


def context_hash(context: Path) -> str:
    """sha256 over each visible file's path, mode bit and content."""
    digest = hashlib.sha256()
    for path in context_files(context):
        relative = path.relative_to(context).as_posix()
        executable = "x" if path.stat().st_mode & 0o111 else "-"
        digest.update(f"{relative}\0{executable}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
