"""What a PromQL expression reads: each series selector's metric name and label matchers.

Enough PromQL for the expressions this project writes (functions, aggregations with by/without,
binary operators with on/ignoring/group_*, range windows, numbers, string matchers): a metric is
an identifier that is neither a function, a keyword nor a label in a grouping clause.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan"}
)
_TOKEN = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*")|(?P<window>\[[^\]]*\])|(?P<braces>\{[^}]*\})|(?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?)"""
    r"""|(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)|(?P<other>\S)""",
)
_MATCHER = re.compile(r"""\s*(?P<label>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*,?""")


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, operator, value)


def selectors(expr: str) -> list[Selector]:
    tokens = [(match.lastgroup, match.group()) for match in _TOKEN.finditer(expr)]
    found: list[Selector] = []
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        after = tokens[index + 1] if index + 1 < len(tokens) else (None, "")
        if kind == "ident" and text in KEYWORDS:
            if text in ("by", "without", "on", "ignoring", "group_left", "group_right") and after[1] == "(":
                index = _skip_group(tokens, index + 1)
                continue
        elif kind == "ident" and after[1] in ("(", "by", "without"):
            pass  # a function, or an aggregation (`sum by (le) (...)`)
        elif kind == "ident":
            matchers: tuple[tuple[str, str, str], ...] = ()
            if after[0] == "braces":
                matchers = _matchers(after[1])
                index += 1
            found.append(Selector(text, matchers))
        index += 1
    return found


def _skip_group(tokens: list[tuple[str | None, str]], start: int) -> int:
    index = start
    while index < len(tokens) and tokens[index][1] != ")":
        index += 1
    return index + 1


def _matchers(braces: str) -> tuple[tuple[str, str, str], ...]:
    body = braces[1:-1]
    found = []
    position = 0
    while position < len(body.rstrip()):
        match = _MATCHER.match(body, position)
        if match is None:
            raise ValueError(f"cannot read the matchers {braces!r} at {body[position:]!r}")
        found.append((match["label"], match["op"], match["value"].replace('\\"', '"').replace("\\\\", "\\")))
        position = match.end()
    return tuple(found)
