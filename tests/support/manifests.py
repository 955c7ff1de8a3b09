"""Comparing Kubernetes objects from two engines: identity up to auto-name suffixes, specs equal."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

# Pulumi auto-names an object `<resource name>-<suffix>`: 8 random characters from the real
# engine, 8 hex digits from the offline one.
_AUTONAME = re.compile(r"^(?P<logical>.+)-[a-z0-9]{8}$")

ObjectKey = tuple[str, str, str]  # kind, namespace, name with any auto-name suffix replaced by '*'


def read_rendered(directory: Path) -> list[dict[str, Any]]:
    """Every object in the YAML files under `directory` (any depth, in file-name order)."""
    objects = []
    for path in sorted(directory.rglob("*.yaml")):
        objects += [document for document in yaml.safe_load_all(path.read_text()) if document]
    return objects


def auto_names(resources: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Generated name -> '<resource name>-*', from engine state (Pulumi resource name and live name).

    Only names that really are the resource name plus a suffix count: explicit names stay.
    """
    names = {}
    for resource in resources:
        live_name = ((resource.get("outputs") or {}).get("metadata") or {}).get("name")
        logical = str(resource["urn"]).rsplit("::", 1)[-1]
        if isinstance(live_name, str) and live_name != logical and (match := _AUTONAME.match(live_name)) and match["logical"] == logical:
            names[live_name] = f"{logical}-*"
    return names


def normalized(value: Any, renames: Mapping[str, str]) -> Any:
    """`value` with every generated name replaced by its stable form."""
    if isinstance(value, dict):
        return {key: normalized(item, renames) for key, item in value.items()}
    if isinstance(value, list):
        return [normalized(item, renames) for item in value]
    if isinstance(value, str):
        return renames.get(value, value)
    return value


def key_of(manifest: Mapping[str, Any]) -> ObjectKey:
    metadata = manifest.get("metadata") or {}
    return manifest["kind"], metadata.get("namespace", ""), metadata["name"]


def by_key(manifests: Iterable[Mapping[str, Any]], renames: Mapping[str, str]) -> dict[ObjectKey, dict[str, Any]]:
    indexed: dict[ObjectKey, dict[str, Any]] = {}
    for manifest in manifests:
        stable = normalized(dict(manifest), renames)
        key = key_of(stable)
        assert key not in indexed, f"two objects are {key}"
        indexed[key] = stable
    return indexed


def differences(left: Any, right: Any, path: str = "") -> list[str]:
    """Every path where the two values differ, with both sides."""
    if isinstance(left, dict) and isinstance(right, dict):
        found = []
        for key in sorted(set(left) | set(right)):
            where = f"{path}.{key}" if path else str(key)
            if key not in left or key not in right:
                found.append(f"{where}: only in {'right' if key not in left else 'left'}")
            else:
                found += differences(left[key], right[key], where)
        return found
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [found for index, (a, b) in enumerate(zip(left, right, strict=True)) for found in differences(a, b, f"{path}[{index}]")]
    return [] if left == right else [f"{path}: {left!r} != {right!r}"]
