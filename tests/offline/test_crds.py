"""The schema gate for custom resources: the HTTPRoute, ServiceMonitor and PrometheusRule are
checked against their CRDs' openAPIV3Schema at the pinned versions (unknown fields refused, as
a strict API server refuses them), the CRDs' CEL rules said to be checked only live, and the
versions written in one place."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from offline.engine import StackRun
from offline.gates import crds, schemas
from offline.paths import PROJECT_ROOT

SCRAPED = {"enabled": True, "prometheusNamespace": "monitoring"}


def _of_kind(run: StackRun, kind: str) -> dict[str, Any]:
    (manifest,) = [manifest for manifest in run.manifests() if manifest["kind"] == kind]
    return manifest


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> StackRun:
    from tests.support.stacks import with_overrides

    overrides = {"monitoring": {"serviceMonitor": SCRAPED, "prometheusRule": {"enabled": True}, "dashboard": {"enabled": True}}}
    return with_overrides("dev", tmp_path_factory.mktemp("crds"), overrides)


def test_the_pinned_crds_define_the_kinds_the_stacks_create() -> None:
    known = crds.schemas()
    for kind in (
        ("gateway.networking.k8s.io/v1", "HTTPRoute"),
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
    ):
        assert kind in known


def test_every_custom_resource_meets_its_crd(prod_run: StackRun, monitored: StackRun) -> None:
    custom = [_of_kind(prod_run, "HTTPRoute"), _of_kind(monitored, "ServiceMonitor"), _of_kind(monitored, "PrometheusRule")]
    for manifest in custom:
        assert schemas.schema_errors(manifest) == [], manifest["kind"]


@pytest.mark.parametrize(
    ("kind", "break_it", "expected"),
    [
        ("HTTPRoute", lambda spec: spec["parentRefs"][0].update(port="https"), "is not of type 'integer'"),
        ("HTTPRoute", lambda spec: spec["rules"][0].update(backends=[]), "Additional properties are not allowed ('backends'"),
        ("HTTPRoute", lambda spec: spec["parentRefs"][0].pop("name"), "'name' is a required property"),
        ("HTTPRoute", lambda spec: spec.update(hostnames=["API.example.com"]), "does not match"),
        ("ServiceMonitor", lambda spec: spec["endpoints"][0].update(scheme="gopher"), "is not one of"),
        ("PrometheusRule", lambda spec: spec["groups"][0]["rules"][0].update(expression="up"), "Additional properties are not allowed"),
    ],
)
def test_a_broken_custom_resource_is_refused(prod_run: StackRun, monitored: StackRun, kind: str, break_it: Any, expected: str) -> None:
    manifest = copy.deepcopy(_of_kind(prod_run if kind == "HTTPRoute" else monitored, kind))
    break_it(manifest["spec"])
    errors = schemas.schema_errors(manifest)
    assert errors
    assert any(expected in error for error in errors), errors


def test_an_unknown_kind_is_an_error_not_a_crash() -> None:
    manifest = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "n"}}
    (error, *_) = schemas.schema_errors(manifest)
    assert "neither built in nor a pinned CRD" in error


def test_cel_rules_are_said_to_be_checked_only_live(prod_run: StackRun) -> None:
    (note,) = schemas.live_only(prod_run.manifests())
    assert note.startswith("HTTPRoute:")
    assert "checked only live" in note
    assert crds.schemas()[("gateway.networking.k8s.io/v1", "HTTPRoute")].cel_rules > 0


def test_the_crd_versions_are_written_in_one_place() -> None:
    pinned = crds.versions()
    assert set(pinned) == {"GATEWAY_API_VERSION", "PROMETHEUS_OPERATOR_VERSION"}
    assert re.fullmatch(r"1\.5\.\d+", pinned["GATEWAY_API_VERSION"])
    lock = (PROJECT_ROOT / "scripts" / "crds" / "lock.sum").read_text()
    for version in pinned.values():
        assert f" v{version} h1:" in lock
    for path in [*PROJECT_ROOT.glob("offline/**/*.py"), PROJECT_ROOT / "scripts" / "crds" / "fetch.sh"]:
        for version in pinned.values():
            assert version not in path.read_text(), f"{path} repeats {version}"


def test_the_gate_cache_is_keyed_by_the_crd_versions(prod_run: StackRun) -> None:
    # A new CRD version must not reuse results computed against the old one.
    assert crds.fingerprint() == " ".join(f"{key}={value}" for key, value in sorted(crds.versions().items()))
    errors, _ = schemas.check([_of_kind(prod_run, "HTTPRoute")])
    assert errors == []
