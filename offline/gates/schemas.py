"""Strict schema validation of rendered objects: built-in kinds against the upstream OpenAPI of
every supported Kubernetes version (kubernetes-validate), custom resources against their CRDs'
openAPIV3Schema at the pinned versions (offline/gates/crds.py, scripts/crds/versions.env)."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

from offline.gates import cache as gate_cache
from offline.gates import crds
from offline.render_dir import dump

# The versions the README declares supported: the three newest the pinned kubernetes-validate ships.
SUPPORTED_KUBERNETES_VERSIONS = ("1.35", "1.36", "1.37")


def schema_errors(manifest: Mapping[str, Any], versions: tuple[str, ...] = SUPPORTED_KUBERNETES_VERSIONS) -> list[str]:
    """Unknown fields rejected; one message per version the object fails, or per way it breaks its CRD."""
    import kubernetes_validate

    crd = crds.schemas().get((manifest["apiVersion"], manifest["kind"]))
    if crd is not None:
        return crds.crd_errors(manifest, crd)
    errors = []
    where = f"{manifest['kind']}/{manifest['metadata']['name']}"
    for kubernetes_version in versions:
        try:
            kubernetes_validate.validate(dict(manifest), kubernetes_version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{where} (Kubernetes {kubernetes_version}): {manifest['apiVersion']} is neither built in nor a pinned CRD")
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{where} (Kubernetes {kubernetes_version}): {error.message} at {'.'.join(map(str, error.path))}")
    return errors


def live_only(manifests: list[dict[str, Any]]) -> list[str]:
    """What only a live API server checks of these objects: their CRDs' CEL rules, one line per kind."""
    notes = {}
    for manifest in manifests:
        crd = crds.schemas().get((manifest["apiVersion"], manifest["kind"]))
        if crd is not None:
            notes[crd.kind] = f"{crd.kind}: {crd.source} schema checked; its {crd.cel_rules} CEL rules are checked only live"
    return sorted(notes.values())


def check(manifests: list[dict[str, Any]]) -> tuple[list[str], int]:
    """(every error, how many objects came from the cache): results keyed by object and validator versions."""
    tool = f"kubernetes-validate {version('kubernetes-validate')} {SUPPORTED_KUBERNETES_VERSIONS} crds {crds.fingerprint()}"
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
