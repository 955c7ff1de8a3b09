"""Gates on what gets deployed: strict schemas, Pod Security `restricted`, checkov, secret leaks."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline import render_dir
from offline.engine import StackRun
from offline.gates.schemas import SUPPORTED_KUBERNETES_VERSIONS, schema_errors
from offline.paths import PROJECT_ROOT
from policy.rules import ALLOWED_VOLUME_TYPES, containers, pod_spec, restricted_violations
from tests.support.stacks import STACKS, committed

POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "Job", "CronJob"}


def _pod_templates(run: StackRun) -> list[tuple[str, dict[str, Any]]]:
    templates = []
    for manifest in run.manifests():
        spec = pod_spec(manifest)
        if manifest["kind"] in POD_TEMPLATE_KINDS and spec is not None:
            templates.append((f"{manifest['kind']}/{manifest['metadata']['name']}", spec))
    return templates


# ---------------------------------------------------------------------------------------
# Schema


def test_readme_declares_the_validated_kubernetes_versions() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert len(SUPPORTED_KUBERNETES_VERSIONS) >= 3
    for version in SUPPORTED_KUBERNETES_VERSIONS:
        assert version in readme


def test_every_object_is_schema_valid_in_strict_mode(stack_run: StackRun) -> None:
    manifests = stack_run.manifests()
    assert manifests
    errors = [error for manifest in manifests for error in schema_errors(manifest)]
    assert errors == []


def test_strict_validation_rejects_unknown_fields(dev_run: StackRun) -> None:
    deployment = next(manifest for manifest in dev_run.manifests() if manifest["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["notAField"] = True
    assert schema_errors(deployment)


# ---------------------------------------------------------------------------------------
# Pod Security `restricted`


def test_every_workload_kind_has_a_pod_template(prod_run: StackRun) -> None:
    kinds = {where.split("/")[0] for where, _ in _pod_templates(prod_run)}
    assert kinds == POD_TEMPLATE_KINDS  # app, migration Job, MySQL + Redis, backup CronJob


def test_pod_templates_meet_the_restricted_profile(stack_run: StackRun) -> None:
    templates = _pod_templates(stack_run)
    assert len(templates) >= 4
    for where, spec in templates:
        pod = spec.get("securityContext") or {}
        for host_field in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(host_field), f"{where}: {host_field}"
        for volume in spec.get("volumes") or []:
            assert set(volume) - {"name"} <= ALLOWED_VOLUME_TYPES, f"{where}: volume {volume['name']}"
            assert "hostPath" not in volume
        assert pod.get("runAsUser") != 0, where
        for name, container in containers(spec):
            context = container.get("securityContext") or {}
            label = f"{where} {name}"
            assert context.get("allowPrivilegeEscalation") is False, f"{label}: allowPrivilegeEscalation must be false explicitly"
            assert not context.get("privileged"), label
            capabilities = context.get("capabilities") or {}
            assert capabilities.get("drop") == ["ALL"], f"{label}: capabilities.drop"
            assert set(capabilities.get("add") or []) <= {"NET_BIND_SERVICE"}, f"{label}: capabilities.add"
            assert context.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, f"{label}: runAsNonRoot"
            run_as_user = context.get("runAsUser", pod.get("runAsUser"))
            assert isinstance(run_as_user, int), f"{label}: a numeric runAsUser (a named image user fails runAsNonRoot)"
            assert run_as_user != 0, f"{label}: runAsUser 0"
            seccomp = (context.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
            assert seccomp == "RuntimeDefault", f"{label}: seccompProfile"
            assert all(not port.get("hostPort") for port in container.get("ports") or []), f"{label}: hostPort"
        assert restricted_violations({"kind": "Pod", "spec": spec}) == []


# ---------------------------------------------------------------------------------------
# checkov


def _checkov_available() -> bool:
    from offline.gates import checkov

    if checkov.installed():
        return True
    if os.environ.get("CI") == "true":
        checkov.install()
        return True
    return False


@pytest.fixture(scope="module")
def checkov_ready() -> None:
    if not _checkov_available():
        pytest.skip("checkov is not installed: `.venv/bin/python -m offline.gates.checkov install` (CI installs it)")


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.usefixtures("checkov_ready")
def test_checkov_passes_the_rendered_manifests(stack: str, tmp_path: Path) -> None:
    from offline.gates import checkov

    render_dir.write(tmp_path, committed(stack).manifests())
    summary = checkov.scan_manifests(tmp_path)
    assert summary.passed > 0
    assert summary.failures == []
    for skip in summary.skips:  # inline skips only, each with a reason, each listed in the README
        assert len(skip.reason.strip()) > 20, skip
        assert skip.check_id in _readme_security_section(), f"{skip.check_id} is skipped but not listed in README ## Security"


@pytest.mark.usefixtures("checkov_ready")
def test_checkov_passes_the_dockerfile() -> None:
    from offline.gates import checkov

    summary = checkov.scan_dockerfile()
    assert summary.resource_count > 0
    assert summary.failures == []
    for skip in summary.skips:
        assert skip.check_id in _readme_security_section(), f"{skip.check_id} is skipped but not listed in README ## Security"


@pytest.mark.usefixtures("checkov_ready")
def test_checkov_reports_a_broken_manifest(tmp_path: Path) -> None:
    from offline.gates import checkov

    deployment = next(manifest for manifest in committed("dev").manifests() if manifest["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["privileged"] = True
    container["image"] = "mysql:latest"
    (tmp_path / "deployment.yaml").write_text(yaml.safe_dump(deployment))
    failed = {finding.check_id for finding in checkov.scan_manifests(tmp_path).failures}
    assert {"CKV_K8S_16", "CKV_K8S_43"} <= failed  # privileged, image not by digest


def _readme_security_section() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text()
    match = re.search(r"^## Security\n(.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL)
    assert match, "README.md has no ## Security section"
    return match.group(1)


def test_every_inline_skip_is_listed_in_the_readme(stack_run: StackRun) -> None:
    for manifest in stack_run.manifests():
        for key, value in (manifest["metadata"].get("annotations") or {}).items():
            if key.startswith("checkov.io/skip"):
                check_id = str(value).split("=", 1)[0]
                assert check_id in _readme_security_section()
