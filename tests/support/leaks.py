"""Finding secret canaries in text: as set, base64-encoded (Secret data), or inside a docker auth."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping

from components.config import SECRET_KEYS

REGISTRY_USERNAME = "bot"


def canaries(stack: str | None = None) -> dict[str, str]:
    """A distinctive value for every secret config key (that `stack`'s settings use), new on each call."""
    run = secrets.token_hex(16)  # long enough for prod's 32-character minimum
    values = {key: f"canary{key}{run}" for key in SECRET_KEYS}
    if stack is not None:
        for key in unused_secrets(stack):
            values.pop(key)
    return values


def unused_secrets(stack: str) -> set[str]:
    """Secret keys the committed stack's settings would refuse as unused (the S3 key of a volume target)."""
    from tests.support.stacks import committed_config

    config = committed_config(stack)
    return set() if config.backup.target == "s3" else {"backupS3SecretKey"}


def needles(values: Mapping[str, str]) -> set[str]:
    """The canaries and their base64 forms (as they sit in Secret data or a docker auth)."""
    found = set(values.values())
    for value in values.values():
        found.add(base64.b64encode(value.encode()).decode())
    if "registryPassword" in values:
        found.add(base64.b64encode(f"{REGISTRY_USERNAME}:{values['registryPassword']}".encode()).decode())
    return found


def decoded(text: str, depth: int = 2) -> Iterator[str]:
    """The text, and every base64 token in it decoded (twice over: a dockerconfigjson nests one)."""
    yield text
    if depth == 0:
        return
    for token in re.findall(r"[A-Za-z0-9+/]{12,}={0,2}", text):
        try:
            plain = base64.b64decode(token, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        yield from decoded(plain, depth - 1)


def leaked(needles_: Iterable[str], text: str) -> list[str]:
    return sorted(needle for needle in needles_ if needle in text)
