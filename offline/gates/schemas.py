"""Strict upstream OpenAPI validation of rendered objects, for every supported Kubernetes version."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

from offline.gates import cache as gate_cache
from offline.render_dir import dump

# The versions the README declares supported: the three newest the pinned kubernetes-validate ships.
SUPPORTED_KUBERNETES_VERSIONS = ("1.35", "1.36", "1.37")


def schema_errors(manifest: Mapping[str, Any], versions: tuple[str, ...] = SUPPORTED_KUBERNETES_VERSIONS) -> list[str]:
    """Unknown fields rejected; one message per version the object fails."""
    import kubernetes_validate

    errors = []
    for kubernetes_version in versions:
        try:
            kubernetes_validate.validate(dict(manifest), kubernetes_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = f"{manifest['kind']}/{manifest['metadata']['name']}"
            errors.append(f"{where} (Kubernetes {kubernetes_version}): {error.message} at {'.'.join(map(str, error.path))}")
    return errors


def check(manifests: list[dict[str, Any]]) -> tuple[list[str], int]:
    """(every error, how many objects came from the cache): results keyed by object and validator version."""
    tool = f"kubernetes-validate {version('kubernetes-validate')} {SUPPORTED_KUBERNETES_VERSIONS}"
    errors: list[str] = []
    reused = 0
    for manifest in manifests:
        digest = gate_cache.key(tool, dump(manifest))
        cached = gate_cache.get("schemas", digest)
        if cached is None:
            cached = schema_errors(manifest)
            gate_cache.put("schemas", digest, cached)
        else:
            reused += 1
        errors += cached
    return errors, reused
