"""Upgrading a stack deployed by an earlier release: URNs must not move, or `pulumi up` would
replace what they name (a StatefulSet replaced is a database emptied)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from offline.paths import PROJECT_ROOT

# A digest-pinned reference: in render mode nothing pulls it.
from tests.e2e.engine.common import IMAGE, REPORT_DIR
from tests.support import leaks
from tests.support.pulumi_cli import Workspace, toolchain_bin
from tests.support.reports import write_phase_seconds
from tests.support.stacks import STACKS

# The last commit before the components moved into rooms (the second redesign).
UPGRADE_FROM = "22d1523"
REPLACING_OPS = {"replace", "create-replacement", "delete-replaced"}
# What the new program adds on purpose, per stack (a policy admitting the API's labelled clients).
ADDED_SINCE_UPGRADE_FROM = {"dev": {"network-app-from-clients"}, "prod": {"network-app-from-clients"}}
# What it deletes on purpose, per stack. The stack files stay as deployed, and a deployed prod's
# `app.ingress` is still read (as app.exposure mode ingress): its Ingress stays. Moving prod to the
# Gateway is an edit of its stack file (the committed Pulumi.prod.yaml): Ingress `api` and policy
# `network-app-from-ingress` deleted, HTTPRoute `api` and `network-app-from-gateway` created
# (tests/components/app/test_exposure.py, tests/components/network/test_policies.py).
REMOVED_SINCE_UPGRADE_FROM: dict[str, set[str]] = {"dev": set(), "prod": set()}


def _program_at(commit: str, directory: Path) -> Path:
    """The program files (and stack files) as `commit` had them, from this checkout's history."""
    known = subprocess.run(["git", "-C", str(PROJECT_ROOT), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True, check=False)
    if known.returncode != 0:
        pytest.fail(f"commit {commit} is not in this checkout's history (a shallow clone?): `git fetch --unshallow` first")
    directory.mkdir()
    files = ["Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "__main__.py", "components", "app"]
    archive = subprocess.run(["git", "-C", str(PROJECT_ROOT), "archive", commit, *files], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive.stdout, check=True)
    return directory


@pytest.mark.parametrize("stack", STACKS)
def test_a_stack_deployed_by_the_previous_layout_upgrades_without_replacing_anything(stack: str, tmp_path: Path) -> None:
    workspace = Workspace.create(tmp_path / "workspace", stack, toolchain_bin(), program=_program_at(UPGRADE_FROM, tmp_path / "old"))
    workspace.run("stack", "init", stack)
    workspace.use_prebuilt_image(IMAGE)
    workspace.set_path("image.registryUsername", leaks.REGISTRY_USERNAME)
    workspace.set_path("kubernetes.renderDirectory", str(tmp_path / "render"))
    for key, value in leaks.canaries(stack).items():
        workspace.set_secret(key, value)
    workspace.run("up", "--yes", "--skip-preview")
    before = {resource["urn"] for resource in workspace.resources()}

    workspace.use_program(PROJECT_ROOT)
    steps = workspace.steps()

    assert [(step["op"], step["urn"]) for step in steps if step["op"] in REPLACING_OPS] == []
    # What does change is what changed on purpose (a Deployment's pod spec, the worker's
    # autoscaler): updates in place of resources the old state had, and the resources added.
    assert {step["op"] for step in steps} <= {"update", "create", "delete"}
    assert {step["urn"] for step in steps if step["op"] == "update"} <= before
    assert {str(step["urn"]).rsplit("::", 1)[-1] for step in steps if step["op"] == "create"} == ADDED_SINCE_UPGRADE_FROM[stack]
    assert {str(step["urn"]).rsplit("::", 1)[-1] for step in steps if step["op"] == "delete"} == REMOVED_SINCE_UPGRADE_FROM[stack]
    write_phase_seconds(
        REPORT_DIR, f"upgrade-{stack}", {}, changed=sorted(f"{step['op']} {str(step['urn']).rsplit('::', 1)[-1]}" for step in steps)
    )
