"""The real Pulumi engine on each stack, as a user drives it: `pulumi stack init`, secrets set
with `pulumi config set --secret`, preview, up, an API key rotation, the policy pack, destroy.
(302 lines: one lifecycle per stack and the tests reading it; it shares its fixture.)

The Kubernetes provider renders to a directory (no cluster): this proves what the engine and
the providers accept and decide, and that the offline engine behind `make render` agrees
with them. `make test-engine` runs these and the rest of tests/e2e/engine/ with the toolchain
from scripts/pulumi-toolchain.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.engine import run_stack
from offline.paths import PROJECT_ROOT
from offline.values import SECRET_SIG_KEY

# A digest-pinned reference: in render mode nothing pulls it.
from tests.e2e.engine.common import IMAGE, REPORT_DIR
from tests.support import leaks, manifests
from tests.support.pulumi_cli import PROJECT, Result, Workspace, toolchain_bin, toolchain_versions
from tests.support.reports import write_phase_seconds
from tests.support.stacks import STACKS

# The one warning the engine may print: the provider's notice that rendered Secrets are
# plaintext ("rendered YAML will contain ..." in a preview, "rendered file <path> contains ..." in an up).
RENDER_NOTICE = re.compile(r"^warning: rendered (YAML will contain|file \S+ contains) a secret value in plaintext$")
# Protected resources stop a destroy with this engine message.
PROTECT_MESSAGE = "because it is protected"


@dataclass
class Lifecycle:
    """Everything one stack's run produced, phase by phase, for the tests to judge."""

    workspace: Workspace
    canaries: dict[str, str]
    render_dir: Path
    phases: dict[str, Result] = field(default_factory=dict)
    rendered: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    rotation_steps: list[dict[str, Any]] = field(default_factory=list)
    rendered_after_rotation: list[dict[str, Any]] = field(default_factory=list)
    state_after_rotation: dict[str, Any] = field(default_factory=dict)
    resources_after_first_destroy: list[dict[str, Any]] = field(default_factory=list)
    resources_after_destroy: list[dict[str, Any]] = field(default_factory=list)
    leaks_outside_render_dir: dict[str, list[str]] = field(default_factory=dict)

    @property
    def stack(self) -> str:
        return self.workspace.stack

    def phase(self, name: str) -> Result:
        return self.phases[name]


def _run_lifecycle(root: Path, stack: str) -> Lifecycle:
    workspace = Workspace.create(root, stack, toolchain_bin())
    life = Lifecycle(workspace=workspace, canaries=leaks.canaries(stack), render_dir=root / "render")
    phases = life.phases

    workspace.run("stack", "init", stack)
    workspace.use_prebuilt_image(IMAGE)
    # Exercise the pull secret too: a registry user makes registryPassword a used secret.
    workspace.set_path("image.registryUsername", leaks.REGISTRY_USERNAME)
    workspace.set_path("kubernetes.renderDirectory", str(life.render_dir))
    for key, value in life.canaries.items():
        workspace.set_secret(key, value)

    phases["preview"] = workspace.run("preview")
    phases["up"] = workspace.run("up", "--yes", "--skip-preview")
    life.rendered = manifests.read_rendered(life.render_dir)
    life.state = workspace.export()
    phases["output"] = workspace.run("stack", "output")
    phases["output-json"] = workspace.run("stack", "output", "--json")
    phases["preview-unchanged"] = workspace.run("preview", "--expect-no-changes")
    phases["policy-preview"] = workspace.run("preview", "--policy-pack", str(PROJECT_ROOT / "policy"))

    # Rotate the API keys as the README says: a new secret value, then up.
    life.canaries["apiKeys"] = leaks.canaries()["apiKeys"]
    workspace.set_secret("apiKeys", life.canaries["apiKeys"])
    phases["rotation-diff"] = workspace.run("preview", "--diff")
    life.rotation_steps = workspace.steps()
    phases["rotation-up"] = workspace.run("up", "--yes", "--skip-preview")
    life.rendered_after_rotation = manifests.read_rendered(life.render_dir)
    life.state_after_rotation = workspace.export()
    phases["preview-after-rotation"] = workspace.run("preview", "--expect-no-changes")

    # Everything the engine wrote, except the provider's render directory (plaintext by design).
    needles = leaks.needles(life.canaries)
    for path in workspace.files_outside([life.render_dir]):
        found = leaks.leaked(needles, path.read_bytes().decode(errors="replace"))
        if found:
            life.leaks_outside_render_dir[str(path.relative_to(root))] = found

    phases["destroy"] = workspace.run("destroy", "--yes", check=False)
    life.resources_after_first_destroy = workspace.resources()
    if phases["destroy"].returncode != 0:
        phases["unprotect"] = workspace.run("state", "unprotect", "--all", "--yes")
        phases["destroy-unprotected"] = workspace.run("destroy", "--yes", "--skip-preview")
    life.resources_after_destroy = workspace.resources()
    return life


@pytest.fixture(scope="module", params=STACKS)
def life(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lifecycle]:
    root = tmp_path_factory.mktemp(f"engine-{request.param}")
    try:
        lifecycle = _run_lifecycle(root, request.param)
        write_phase_seconds(REPORT_DIR, lifecycle.stack, lifecycle.phases)
        yield lifecycle
    finally:
        # The provider writes Secrets in plaintext to the render directory: never leave it behind.
        shutil.rmtree(root, ignore_errors=True)


def _kinds(life: Lifecycle, state: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Resources in state by URN."""
    resources = (state or life.state)["deployment"]["resources"]
    return {resource["urn"]: resource for resource in resources}


def test_the_toolchain_is_the_pinned_one() -> None:
    versions = toolchain_versions()
    reported = subprocess.run([str(toolchain_bin() / "pulumi"), "version"], capture_output=True, text=True, check=True)
    assert reported.stdout.strip() == f"v{versions['PULUMI_CLI_VERSION']}"


def test_preview_and_up_succeed_without_warnings(life: Lifecycle) -> None:
    for name in ("preview", "up", "preview-unchanged", "rotation-up"):
        unexpected = [line for line in life.phase(name).warnings() if not RENDER_NOTICE.match(line)]
        assert unexpected == [], f"{name}: {unexpected}"


def test_up_creates_what_the_program_declares(life: Lifecycle) -> None:
    kubernetes = [resource for resource in life.state["deployment"]["resources"] if resource["type"].startswith("kubernetes:")]
    assert len([resource for resource in kubernetes if resource.get("custom")]) > 15
    assert len(life.rendered) == len([resource for resource in kubernetes if resource["type"] != "pulumi:providers:kubernetes"])


def _offline(life: Lifecycle) -> dict[manifests.ObjectKey, dict[str, Any]]:
    # The same stack file the real engine used (secure values, salt and all) and the same canaries.
    run = run_stack(life.stack, config_file=life.workspace.stack_file, secrets=_first_canaries(life))
    state = [{"urn": resource.urn, "outputs": resource.outputs} for resource in run.kubernetes_objects()]
    return manifests.by_key(run.manifests(), manifests.auto_names(state))


def _first_canaries(life: Lifecycle) -> dict[str, str]:
    secret_keys = {
        key.split(":", 1)[1]
        for key, value in (yaml.safe_load(life.workspace.stack_file.read_text())["config"]).items()
        if isinstance(value, dict) and "secure" in value
    }
    assert secret_keys == set(life.canaries)
    return dict(life.canaries)


def test_real_and_offline_engines_render_the_same_objects(life: Lifecycle) -> None:
    real = manifests.by_key(life.rendered_after_rotation, manifests.auto_names(life.state_after_rotation["deployment"]["resources"]))
    offline = _offline(life)
    assert sorted(real) == sorted(offline)
    differences = {
        f"{kind}/{name}": found
        for (kind, _, name), real_object in real.items()
        if (found := manifests.differences(_comparable(real_object), _comparable(offline[(kind, _, name)])))
    }
    assert differences == {}


def _comparable(manifest: dict[str, Any]) -> dict[str, Any]:
    """Secret values aside (plaintext from the provider, redacted offline), the whole object."""
    if manifest["kind"] != "Secret":
        return manifest
    return {**manifest, "data": sorted(manifest.get("data", {})), "stringData": None}


def test_stack_file_holds_every_canary_only_encrypted(life: Lifecycle) -> None:
    text = life.workspace.stack_file.read_text()
    assert leaks.leaked(leaks.needles(life.canaries), text) == []
    config = yaml.safe_load(text)["config"]
    for key in life.canaries:
        value = config[f"{PROJECT}:{key}"]
        assert isinstance(value, dict), key
        assert set(value) == {"secure"}, key


def test_stack_outputs_show_secrets_only_as_secret(life: Lifecycle) -> None:
    assert "[secret]" in life.phase("output").stdout
    outputs = life.phase("output-json").json()
    assert outputs["apiKey"] == "[secret]"
    for result in (life.phase("output"), life.phase("output-json")):
        assert leaks.leaked(leaks.needles(life.canaries), result.output) == []


def test_no_canary_in_state_logs_or_any_file_but_the_render_directory(life: Lifecycle) -> None:
    needles = leaks.needles(life.canaries)
    assert leaks.leaked(needles, json.dumps(life.state)) == []
    assert leaks.leaked(needles, json.dumps(life.state_after_rotation)) == []
    for result in life.workspace.transcript:
        assert leaks.leaked(needles, result.output) == [], f"pulumi {' '.join(result.args)} printed a canary"
    assert life.leaks_outside_render_dir == {}


def test_the_canaries_did_reach_the_rendered_secrets(life: Lifecycle) -> None:
    # So the tests above can fail: the values travelled, as Secret data only.
    secret_text = " ".join(
        text
        for manifest in life.rendered_after_rotation
        if manifest["kind"] == "Secret"
        for value in (manifest.get("data") or {}).values()
        for text in leaks.decoded(str(value))
    )
    assert [key for key, value in life.canaries.items() if value not in secret_text] == []
    others = json.dumps([manifest for manifest in life.rendered_after_rotation if manifest["kind"] != "Secret"])
    assert leaks.leaked(leaks.needles(life.canaries), others) == []


def test_a_second_preview_changes_nothing(life: Lifecycle) -> None:
    assert life.phase("preview-unchanged").returncode == 0
    assert life.phase("preview-after-rotation").returncode == 0


def _kind(step: dict[str, Any]) -> str:
    return str(step["urn"]).split("::")[-2].rsplit(":", 1)[-1]


def test_rotating_api_keys_touches_only_the_app_secret_and_the_deployments_mounting_it(life: Lifecycle) -> None:
    touched = {(_kind(step), str(step["urn"]).rsplit("::", 1)[-1]): step["op"] for step in life.rotation_steps}
    assert touched, "the rotation changed nothing"
    assert set(touched) == {("Secret", "api-secrets"), ("Deployment", "api"), ("Deployment", "worker")}, touched
    assert set(touched.values()) == {"update"}, touched
    assert not [key for key in touched if key[0] in {"StatefulSet", "Job"}]
    diff = life.phase("rotation-diff").output
    assert "checksum/secrets" in diff


def test_rotation_rolls_the_pods_with_a_new_checksum(life: Lifecycle) -> None:
    def checksum(rendered: list[dict[str, Any]]) -> str:
        (deployment,) = [manifest for manifest in rendered if manifest["kind"] == "Deployment" and manifest["metadata"]["name"] == "api"]
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/secrets"])

    assert checksum(life.rendered) != checksum(life.rendered_after_rotation)


def test_rotation_leaves_mysql_and_redis_alone(life: Lifecycle) -> None:
    before, after = _kinds(life), _kinds(life, life.state_after_rotation)
    data_tier = [urn for urn in before if any(f"::{name}" in urn for name in ("mysql", "redis"))]
    assert data_tier
    for urn in data_tier:
        # Compared without ciphertexts: the state re-encrypts secrets with fresh nonces on each write.
        assert _masked(after[urn]["outputs"]) == _masked(before[urn]["outputs"]), urn
    assert not [step for step in life.rotation_steps if step["urn"] in data_tier]


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        if SECRET_SIG_KEY in value:
            return "<secret>"
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def test_the_policy_pack_passes_under_the_real_engine(life: Lifecycle) -> None:
    result = life.phase("policy-preview")
    assert result.returncode == 0
    assert "fastapi-service-gates" in result.output


def test_destroy_leaves_an_empty_stack(life: Lifecycle) -> None:
    assert life.resources_after_destroy == []
    assert not list(life.render_dir.rglob("*.yaml"))


def test_prod_resources_are_protected_until_unprotected(life: Lifecycle) -> None:
    first = life.phase("destroy")
    if life.stack == "prod":
        # `pulumi destroy` previews first: the protected data stops it before anything is deleted.
        assert first.returncode != 0
        assert PROTECT_MESSAGE in first.output
        assert "pulumi state unprotect" in first.output
        assert len(life.resources_after_first_destroy) == len(life.state_after_rotation["deployment"]["resources"])
        assert life.phase("destroy-unprotected").returncode == 0
    else:
        assert first.returncode == 0


def test_canary_base64_forms_are_searched() -> None:
    # The leak search looks for Secret data's encoding too, or state holding base64 would pass.
    values = {"apiKeys": "canary-value-0123"}
    assert base64.b64encode(b"canary-value-0123").decode() in leaks.needles(values)
