"""The policy pack under the real engine refuses a program that breaks a mandatory policy."""

from __future__ import annotations

from pathlib import Path

import yaml

from offline.paths import PROJECT_ROOT
from tests.support.pulumi_cli import Workspace, toolchain_bin

# A digest-pinned reference: in render mode nothing pulls it.

BREAKING_PROGRAM = """
import pulumi
import pulumi_kubernetes as k8s

render = k8s.Provider("render", render_yaml_to_directory=pulumi.Config().require("renderDirectory"))
k8s.core.v1.Pod(
    "unpinned",
    metadata={"namespace": "policy-test"},
    spec={"containers": [{"name": "app", "image": "nginx:1.27"}]},
    opts=pulumi.ResourceOptions(provider=render),
)
"""


def test_a_program_breaking_a_mandatory_policy_fails_the_preview(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        yaml.safe_dump({"name": "policy-breaker", "runtime": {"name": "python", "options": {"virtualenv": str(PROJECT_ROOT / ".venv")}}})
    )
    (project / "__main__.py").write_text(BREAKING_PROGRAM)
    workspace = Workspace(root=tmp_path, stack="test", bin_dir=toolchain_bin())
    for directory in ("state", "home", "tmp"):
        (tmp_path / directory).mkdir()
    workspace.install_providers()
    workspace.run("stack", "init", "test")
    workspace.run("config", "set", "renderDirectory", str(tmp_path / "render"))
    result = workspace.run("preview", "--policy-pack", str(PROJECT_ROOT / "policy"), check=False)
    assert result.returncode != 0
    assert "images-pinned-by-digest" in result.output
    assert "resource-limits-set" in result.output
