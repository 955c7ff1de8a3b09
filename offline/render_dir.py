"""The render directory: written the same way every time, and never touching a file it did not write.

A directory it renders into carries `.rendered-by-fastapi-service.json`, listing the files it
wrote. It renders only into a directory that is new, empty, or carries that list and holds
nothing else; it deletes only files on the list. File names and contents depend on the
objects alone: `NN-kind-name.yaml` in apply order, keys in a canonical order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

MARKER = ".rendered-by-fastapi-service.json"

# Apply order (as Helm installs kinds): what others reference comes first.
KIND_ORDER = (
    "Namespace",
    "NetworkPolicy",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Service",
    "StatefulSet",
    "Job",
    "CronJob",
    "Deployment",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Ingress",
)
TOP_LEVEL_ORDER = ("apiVersion", "kind", "metadata", "spec", "type", "data", "stringData")


class RenderDirError(Exception):
    pass


def check_owned(out_dir: Path) -> list[str]:
    """The files a previous render wrote here; RenderDirError if the directory holds anything else."""
    if not out_dir.exists():
        return []
    if not out_dir.is_dir():
        raise RenderDirError(f"{out_dir} is not a directory")
    entries = sorted(entry.name for entry in out_dir.iterdir())
    if not entries:
        return []
    marker = out_dir / MARKER
    if not marker.is_file():
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise RenderDirError(f"{out_dir} already holds files this tool did not write ({shown}): choose a new or empty directory")
    try:
        written = json.loads(marker.read_text())["files"]
    except (ValueError, KeyError, TypeError):
        raise RenderDirError(f"{marker} is not a render list: choose a new or empty directory") from None
    ours = {MARKER, *written}
    # `.name.tmp`: a file of ours an interrupted render was writing.
    foreign = [entry for entry in entries if entry not in ours and not (entry.endswith(".tmp") and entry[1:-4] in ours)]
    if foreign:
        raise RenderDirError(
            f"{out_dir} holds files this tool did not write ({', '.join(foreign[:5])}): move them, or choose another directory"
        )
    leftovers = [entry for entry in entries if entry.endswith(".tmp") and entry[1:-4] in ours]
    return [name for name in written if isinstance(name, str) and "/" not in name] + leftovers


def file_name(manifest: Mapping[str, Any], index: int) -> str:
    return f"{index:02d}-{str(manifest['kind']).lower()}-{manifest['metadata']['name']}.yaml"


def ordered(manifests: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Apply order, then namespace and name: the same objects always give the same sequence."""

    def rank(manifest: Mapping[str, Any]) -> tuple[int, str, str, str]:
        kind = str(manifest["kind"])
        metadata = manifest.get("metadata") or {}
        position = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
        return position, kind, str(metadata.get("namespace", "")), str(metadata.get("name", ""))

    return [canonical(manifest) for manifest in sorted(manifests, key=rank)]


def canonical(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """apiVersion, kind, metadata, spec, then the rest; every nested mapping's keys sorted."""
    keys = sorted(manifest, key=lambda key: (TOP_LEVEL_ORDER.index(key) if key in TOP_LEVEL_ORDER else len(TOP_LEVEL_ORDER), key))
    return {key: _sorted(manifest[key]) for key in keys}


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def dump(manifest: Mapping[str, Any]) -> str:
    return yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False, width=1000)


def write(out_dir: Path, manifests: Iterable[Mapping[str, Any]]) -> list[Path]:
    """Write one file per object; remove files of the previous render that are gone. Returns the paths."""
    previous = check_owned(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {file_name(manifest, index): dump(manifest) for index, manifest in enumerate(ordered(manifests), start=1)}
    # The list first: an interrupted render still knows what it wrote.
    _write_atomically(out_dir / MARKER, json.dumps({"files": sorted(set(files) | set(previous))}, indent=2) + "\n")
    for name, text in files.items():
        _write_atomically(out_dir / name, text)
    for name in previous:
        if name not in files:
            (out_dir / name).unlink(missing_ok=True)
    _write_atomically(out_dir / MARKER, json.dumps({"files": sorted(files)}, indent=2) + "\n")
    return [out_dir / name for name in files]


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
