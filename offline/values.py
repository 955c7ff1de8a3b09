"""Values as the Pulumi SDK carries them: secrets wrapped in a signature, numbers as doubles.

`plain` unwraps them (what a provider sees), `redact` hides every secret, `secret_leaves` finds
what the program passed as secrets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# How the SDK marks a secret value on the wire (pulumi.runtime.rpc): a signature, not a secret.
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"  # noqa: S105
SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105
REDACTED = "<redacted>"


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG_VALUE


def secret_leaves(value: Any) -> Iterator[Any]:
    if _is_secret(value):
        yield from _leaves(value["value"])
    elif isinstance(value, dict):
        for item in value.values():
            yield from secret_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from secret_leaves(item)


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif value is not None:
        yield value


def plain(value: Any) -> Any:
    """Unwrap secrets, turn integral floats into ints (protobuf carries every number as a double)."""
    if _is_secret(value):
        return plain(value["value"])
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def redact(value: Any) -> Any:
    if _is_secret(value):
        return REDACTED
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value
