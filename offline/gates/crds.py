"""Custom resources (HTTPRoute, ServiceMonitor, PrometheusRule) against their CRDs' openAPIV3Schema.

The CRDs come from their projects' Go modules at the versions in scripts/crds/versions.env,
fetched by scripts/crds/fetch.sh into a cache outside the repository. A schema is checked as the
API server's structural schema checks it, with `fieldValidation=Strict`: unknown fields are
errors (an object without `x-kubernetes-preserve-unknown-fields` admits only its properties).
What jsonschema cannot run is said, not pretended: the CEL rules (`x-kubernetes-validations`)
and the object's metadata are checked only by a live API server.
"""

from __future__ import annotations

import copy
import functools
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from offline.paths import PROJECT_ROOT

FETCH_SCRIPT = PROJECT_ROOT / "scripts" / "crds" / "fetch.sh"
VERSIONS_FILE = PROJECT_ROOT / "scripts" / "crds" / "versions.env"


class CrdFetchError(RuntimeError):
    """scripts/crds/fetch.sh failed (no Go, the module proxy unreachable, a hash that moved)."""


@dataclass(frozen=True)
class CrdSchema:
    """One served version of a CRD: the schema a custom resource of it must meet."""

    api_version: str
    kind: str
    source: str  # the module and file it comes from
    schema: Mapping[str, Any]  # strict: closed objects
    cel_rules: int  # x-kubernetes-validations: checked only live


def versions() -> dict[str, str]:
    """The pinned versions (scripts/crds/versions.env)."""
    pairs = (line.split("=", 1) for line in VERSIONS_FILE.read_text().splitlines() if line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


@functools.cache
def crd_directory() -> Path:
    """The cached CRD files (fetched on first use; instant once cached)."""
    done = subprocess.run([str(FETCH_SCRIPT)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CrdFetchError(f"{FETCH_SCRIPT.relative_to(PROJECT_ROOT)} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@functools.cache
def schemas(directory: Path | None = None) -> dict[tuple[str, str], CrdSchema]:
    """(apiVersion, kind) -> schema, for every served version of every CRD in `directory`."""
    found: dict[tuple[str, str], CrdSchema] = {}
    root = directory or crd_directory()
    for path in sorted(root.glob("*/*.yaml")):
        for document in yaml.load_all(path.read_text(), Loader=_Loader):
            if not document or document.get("kind") != "CustomResourceDefinition":
                continue  # e.g. the Gateway API's ValidatingAdmissionPolicy
            spec = document["spec"]
            for served in spec["versions"]:
                schema = (served.get("schema") or {}).get("openAPIV3Schema")
                if not served.get("served") or schema is None:
                    continue
                api_version = f"{spec['group']}/{served['name']}"
                kind = spec["names"]["kind"]
                found[(api_version, kind)] = CrdSchema(
                    api_version, kind, f"{path.parent.name}/{path.name}", _strict(schema), sum(1 for _ in _cel_rules(schema))
                )
    return found


def fingerprint() -> str:
    """What the results depend on: the pinned versions (the lock pins the files behind them)."""
    return " ".join(f"{key}={value}" for key, value in sorted(versions().items()))


def crd_errors(manifest: Mapping[str, Any], schema: CrdSchema) -> list[str]:
    """Every way `manifest` breaks its CRD's schema (metadata aside: the API server checks it)."""
    from jsonschema import Draft7Validator

    where = f"{manifest['kind']}/{manifest['metadata']['name']}"
    body = {key: value for key, value in manifest.items() if key != "metadata"}
    validator = Draft7Validator(schema.schema)
    errors = sorted(validator.iter_errors(body), key=lambda error: [str(part) for part in error.absolute_path])
    return [
        f"{where} ({schema.api_version}, {schema.source}): {error.message} at {'.'.join(map(str, error.absolute_path))}" for error in errors
    ]


def _strict(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema with every object closed that the API server would prune (or refuse, when strict)."""
    closed = copy.deepcopy(dict(schema))

    def close(node: Any, top: bool = False) -> None:
        if isinstance(node, dict):
            if node.get("nullable"):
                # OpenAPI's `nullable` is JSON Schema's null type beside the declared one.
                kind = node.get("type")
                if isinstance(kind, str):
                    node["type"] = [kind, "null"]
            preserve = node.get("x-kubernetes-preserve-unknown-fields")
            if "properties" in node and "additionalProperties" not in node and not preserve:
                node["additionalProperties"] = False
            for key, value in node.items():
                if key == "properties" and isinstance(value, dict):
                    for name, child in value.items():
                        if not (top and name == "metadata"):
                            close(child)
                elif key not in ("enum", "default", "example", "x-kubernetes-validations"):
                    close(value)
        elif isinstance(node, list):
            for item in node:
                close(item)

    close(closed, top=True)
    # metadata is ObjectMeta, which the CRD leaves as a bare object: the API server checks it.
    closed.setdefault("properties", {})["metadata"] = {"type": "object"}
    return closed


def _cel_rules(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        yield from node.get("x-kubernetes-validations") or []
        for value in node.values():
            yield from _cel_rules(value)
    elif isinstance(node, list):
        for item in node:
            yield from _cel_rules(item)


class _Loader(yaml.CSafeLoader):
    """libyaml's SafeLoader, and a bare `=` is the string it says (prometheus-operator's CRDs hold one)."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))  # type: ignore[arg-type]
