"""Results of slow gates, kept by the hash of everything they depend on.

A result is reused only for byte-identical inputs under the same tool version, so a cached
result is as true as a fresh one. Lives in build/cache/gates (`make clean` removes it).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from offline.paths import PROJECT_ROOT

CACHE_DIR = PROJECT_ROOT / "build" / "cache" / "gates"


def key(*parts: str | bytes | Iterable[str | bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        items = [part] if isinstance(part, str | bytes) else list(part)
        for item in items:
            data = item.encode() if isinstance(item, str) else item
            digest.update(len(data).to_bytes(8, "big"))
            digest.update(data)
    return digest.hexdigest()


def get(gate: str, digest: str) -> Any | None:
    path = CACHE_DIR / gate / f"{digest}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def put(gate: str, digest: str, result: Any) -> None:
    directory = CACHE_DIR / gate
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{digest}.tmp"
    temporary.write_text(json.dumps(result))
    os.replace(temporary, directory / f"{digest}.json")


def sources(paths: Iterable[Path]) -> list[bytes]:
    return [path.name.encode() + b"\0" + path.read_bytes() for path in sorted(paths)]
