"""`image.mode: build` for real: pulumi-docker builds app/ with BuildKit on a Docker daemon of the
test's own, pushes to a registry of its own, and the pods get `registry/repository@sha256:<digest>`.

The dev stack runs with its committed image settings but for what cannot be the same here: the
registry's address, the base images (stand-ins: nothing can be pulled), and `buildNetwork: host`
(the test's daemon has no bridge, so as to change nothing on this machine's network). The
Kubernetes provider renders to a directory: tests/e2e/node/ runs the same image on a real node.

(Over 300 lines on purpose: one build's life in order, each step's checks beside it, on one daemon.)
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.engine.common import REPORT_DIR
from tests.support import leaks, manifests
from tests.support.docker import DockerDaemon
from tests.support.pulumi_cli import PROJECT, Result, Workspace, toolchain_bin
from tests.support.reports import write_phase_seconds

STACK = "dev"
WORKLOADS = (("Deployment", "api"), ("Deployment", "worker"), ("Job", "api-migrate"))


@dataclass
class Build:
    """Everything one build-mode run produced, phase by phase."""

    workspace: Workspace
    daemon: DockerDaemon
    render_dir: Path
    repository: str
    phases: dict[str, Result] = field(default_factory=dict)
    references: dict[str, dict[tuple[str, str], str]] = field(default_factory=dict)  # phase -> workload -> image
    registry_digests: dict[str, str] = field(default_factory=dict)  # phase -> Docker-Content-Digest of the tag
    steps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    image_ids: dict[str, set[str]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)


def _images(render_dir: Path) -> dict[tuple[str, str], str]:
    """The image each workload runs, from the rendered objects (the Job by its name's prefix)."""
    found = {}
    for manifest in manifests.read_rendered(render_dir):
        name = manifest["metadata"]["name"]
        for kind, prefix in WORKLOADS:
            if manifest["kind"] == kind and (name == prefix or (kind == "Job" and name.startswith(prefix))):
                (container,) = manifest["spec"]["template"]["spec"]["containers"]
                found[(kind, prefix)] = container["image"]
    return found


def _tag(workspace: Workspace) -> str:
    exported = workspace.resources()
    (image,) = [resource for resource in exported if resource["type"] == "docker:index/image:Image"]
    return str(image["outputs"]["imageName"]).rsplit(":", 1)[1]


def _record(build: Build, phase: str) -> None:
    build.references[phase] = _images(build.render_dir)
    build.registry_digests[phase] = build.daemon.digest_of(build.repository, _tag(build.workspace))
    build.image_ids[phase] = build.daemon.image_ids()


def _run(root: Path) -> Build:
    daemon = DockerDaemon.start(root / "docker")
    standins = daemon.load_standins()
    print(f"\nstand-ins for the Dockerfile's pinned bases: {standins}")  # the issue asks the test to say what stood in
    workspace = Workspace.create(root / "workspace", STACK, toolchain_bin())
    workspace.environment["DOCKER_HOST"] = daemon.docker_host
    committed = yaml.safe_load(workspace.stack_file.read_text())["config"][f"{PROJECT}:image"]
    build = Build(workspace, daemon, root / "render", committed["repository"])
    workspace.run("stack", "init", STACK)
    workspace.set_path("image.registry", daemon.registry)
    workspace.set_path("image.pythonImage", standins["PYTHON_IMAGE"])
    workspace.set_path("image.uvImage", standins["UV_IMAGE"])
    workspace.set_path("image.buildNetwork", "host")
    workspace.set_path("kubernetes.renderDirectory", str(build.render_dir))
    for key, value in leaks.canaries(STACK).items():
        if key != "registryPassword":  # no registry user here: the authenticated registry is its own test
            workspace.set_secret(key, value)
    phases = build.phases

    phases["cold-up"] = workspace.run("up", "--yes", "--skip-preview")
    _record(build, "cold")
    phases["up-unchanged"] = workspace.run("up", "--yes", "--expect-no-changes")
    phases["preview-unchanged"] = workspace.run("preview", "--expect-no-changes")
    _record(build, "unchanged")

    # A file the build context leaves out (.dockerignore): not a change.
    (workspace.project_dir / "app" / "notes-not-in-the-image.txt").write_text("scratch\n")
    phases["preview-ignored-file"] = workspace.run("preview", "--expect-no-changes", check=False)

    # One module of the service edited: a new image, and the workloads on it.
    module = workspace.project_dir / "app" / "src" / "service" / "__init__.py"
    module.write_text(module.read_text() + "\n# edited by tests/e2e/engine/test_image_build.py\n")
    build.steps["code-change"] = workspace.steps()
    phases["code-change-up"] = workspace.run("up", "--yes", "--skip-preview")
    _record(build, "code-change")
    phases["preview-after-code-change"] = workspace.run("preview", "--expect-no-changes")
    build.sizes = _sizes(daemon, build.references["code-change"][("Deployment", "api")], standins["PYTHON_IMAGE"])
    _failures(build, module)
    return build


def _failures(build: Build, module: Path) -> None:
    """Each failure stops `pulumi up` naming its cause before any workload moves; the next up after the fix succeeds."""
    workspace, phases = build.workspace, build.phases
    dockerfile = workspace.project_dir / "app" / "Dockerfile"
    good_dockerfile = dockerfile.read_text()

    def edit(marker: str) -> None:  # a new build is needed each time
        module.write_text(module.read_text() + f"# {marker}\n")

    edit("daemon down")
    workspace.environment["DOCKER_HOST"] = f"unix://{build.workspace.root}/no-daemon.sock"
    phases["daemon-down"] = workspace.run("up", "--yes", "--skip-preview", check=False)
    _record_workloads(build, "daemon-down")
    workspace.environment["DOCKER_HOST"] = build.daemon.docker_host
    phases["daemon-back"] = workspace.run("up", "--yes", "--skip-preview", check=False)
    _record_workloads(build, "daemon-back")

    edit("registry down")
    build.daemon.stop_registry()
    try:
        phases["registry-down"] = workspace.run("up", "--yes", "--skip-preview", check=False)
        _record_workloads(build, "registry-down")
    finally:
        build.daemon.start_registry()
    phases["registry-back"] = workspace.run("up", "--yes", "--skip-preview", check=False)
    _record_workloads(build, "registry-back")

    edit("broken Dockerfile")
    dockerfile.write_text(good_dockerfile + "\nRUNN this is not an instruction\n")
    phases["broken-dockerfile"] = workspace.run("up", "--yes", "--skip-preview", check=False)
    _record_workloads(build, "broken-dockerfile")
    dockerfile.write_text(good_dockerfile)
    phases["dockerfile-fixed"] = workspace.run("up", "--yes", "--skip-preview", check=False)
    _record_workloads(build, "dockerfile-fixed")


def _record_workloads(build: Build, phase: str) -> None:
    build.references[phase] = _images(build.render_dir)


def _sizes(daemon: DockerDaemon, reference: str, base: str) -> dict[str, int]:
    image = json.loads(daemon.docker("image", "inspect", reference).stdout)[0]["Size"]
    base_size = json.loads(daemon.docker("image", "inspect", base).stdout)[0]["Size"]
    return {"image_bytes": int(image), "base_bytes": int(base_size), "over_base_bytes": int(image) - int(base_size)}


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Build]:
    root = tmp_path_factory.mktemp("image-build")
    result: Build | None = None
    try:
        result = _run(root)
        yield result
    finally:
        if result is not None:
            write_phase_seconds(REPORT_DIR, "image-build", result.phases, sizes=result.sizes)
            result.workspace.run("destroy", "--yes", "--skip-preview", check=False)
        DockerDaemon(root / "docker", "", "").stop()
        shutil.rmtree(root, ignore_errors=True)


def _kind_and_name(urn: str) -> tuple[str, str]:
    return urn.split("::")[-2].rsplit(":", 1)[-1], urn.rsplit("::", 1)[-1]


def test_every_workload_runs_the_pushed_image_by_the_registrys_digest(build: Build) -> None:
    for phase in ("cold", "code-change"):
        expected = f"{build.daemon.registry}/{build.repository}@{build.registry_digests[phase]}"
        assert build.references[phase] == dict.fromkeys(WORKLOADS, expected), phase


def test_an_unchanged_app_builds_nothing_and_plans_nothing(build: Build) -> None:
    assert build.phases["up-unchanged"].returncode == 0
    assert build.phases["preview-unchanged"].returncode == 0
    assert build.image_ids["unchanged"] == build.image_ids["cold"]
    assert build.references["unchanged"] == build.references["cold"]


def test_a_file_the_dockerignore_leaves_out_is_no_change(build: Build) -> None:
    assert build.phases["preview-ignored-file"].returncode == 0, build.phases["preview-ignored-file"].output[-2000:]


FAILURES = {
    # phase: what the output must name
    "daemon-down": ("failed to connect to any docker daemon",),
    "registry-down": ("connection refused",),
    "broken-dockerfile": ("RUNN",),
}


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failed_build_or_push_names_its_cause_and_moves_no_workload(build: Build, failure: str) -> None:
    result = build.phases[failure]
    assert result.returncode != 0
    for cause in FAILURES[failure]:
        assert cause.lower() in result.output.lower(), f"{failure}: {result.output[-3000:]}"
    assert "Traceback" not in result.output
    before = list(build.references)[list(build.references).index(failure) - 1]
    assert build.references[failure] == build.references[before], f"{failure} moved a workload"


@pytest.mark.parametrize("recovery", ["daemon-back", "registry-back", "dockerfile-fixed"])
def test_the_up_after_the_fix_succeeds_and_rolls_the_workloads(build: Build, recovery: str) -> None:
    assert build.phases[recovery].returncode == 0, build.phases[recovery].output[-3000:]
    images = set(build.references[recovery].values())
    assert len(images) == 1
    assert images.pop().startswith(f"{build.daemon.registry}/{build.repository}@sha256:")


def test_a_code_change_rebuilds_once_and_moves_exactly_the_workloads_to_the_new_digest(build: Build) -> None:
    changed = {
        (str(step["urn"]).split("::")[-2].rsplit(":", 1)[-1], str(step["urn"]).rsplit("::", 1)[-1]) for step in build.steps["code-change"]
    }
    assert changed == {("Image", "image-build"), *WORKLOADS}, changed
    assert build.registry_digests["code-change"] != build.registry_digests["cold"]
    assert build.phases["preview-after-code-change"].returncode == 0


# ---------------------------------------------------------------------------------------
# A registry that asks for credentials: image.registryUsername and the secret registryPassword


@dataclass
class Authenticated:
    daemon: DockerDaemon
    workspace: Workspace
    render_dir: Path
    repository: str
    up: Result
    references: dict[tuple[str, str], str]
    state: dict[str, Any]
    anonymous_status: int
    files_with_the_password: list[str]


@pytest.fixture(scope="module")
def authenticated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Authenticated]:
    root = tmp_path_factory.mktemp("image-build-auth")
    daemon = DockerDaemon.start(root / "docker", registry_user="pusher")
    try:
        standins = daemon.load_standins()
        workspace = Workspace.create(root / "workspace", STACK, toolchain_bin())
        workspace.environment["DOCKER_HOST"] = daemon.docker_host
        render_dir = root / "render"
        workspace.run("stack", "init", STACK)
        workspace.set_path("image.registry", daemon.registry)
        workspace.set_path("image.pythonImage", standins["PYTHON_IMAGE"])
        workspace.set_path("image.uvImage", standins["UV_IMAGE"])
        workspace.set_path("image.buildNetwork", "host")
        workspace.set_path("image.registryUsername", daemon.registry_user or "")
        workspace.set_path("kubernetes.renderDirectory", str(render_dir))
        workspace.set_secret("registryPassword", daemon.registry_password)
        up = workspace.run("up", "--yes", "--skip-preview")
        repository = yaml.safe_load(workspace.stack_file.read_text())["config"][f"{PROJECT}:image"]["repository"]
        anonymous = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://{daemon.registry}/v2/{repository}/tags/list"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        needles = leaks.needles({"registryPassword": daemon.registry_password})
        leaked = [
            str(path.relative_to(root))
            for path in workspace.files_outside([render_dir])
            if leaks.leaked(needles, path.read_bytes().decode(errors="replace"))
        ]
        yield Authenticated(
            daemon, workspace, render_dir, repository, up, _images(render_dir), workspace.export(), int(anonymous.stdout or 0), leaked
        )
        workspace.run("destroy", "--yes", "--skip-preview", check=False)
    finally:
        daemon.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_the_push_authenticates_and_the_workloads_run_what_it_pushed(authenticated: Authenticated) -> None:
    assert authenticated.anonymous_status == 401  # the registry really asks
    tag = _tag(authenticated.workspace)
    digest = authenticated.daemon.digest_of(authenticated.repository, tag)  # with the credentials
    assert set(authenticated.references.values()) == {f"{authenticated.daemon.registry}/{authenticated.repository}@{digest}"}


def test_the_pull_secret_carries_the_credentials_for_the_nodes_pull(authenticated: Authenticated) -> None:
    rendered = manifests.read_rendered(authenticated.render_dir)
    (secret,) = [manifest for manifest in rendered if manifest.get("type") == "kubernetes.io/dockerconfigjson"]
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    entry = config["auths"][authenticated.daemon.registry]
    expected = f"{authenticated.daemon.registry_user}:{authenticated.daemon.registry_password}"
    assert base64.b64decode(entry["auth"]).decode() == expected
    for manifest in rendered:
        if manifest["kind"] in {"Deployment", "Job"}:
            assert manifest["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": secret["metadata"]["name"]}]


def test_the_registry_password_is_in_no_output_state_or_file(authenticated: Authenticated) -> None:
    needles = leaks.needles({"registryPassword": authenticated.daemon.registry_password})
    for result in authenticated.workspace.transcript:
        assert leaks.leaked(needles, result.output) == [], f"pulumi {' '.join(result.args)} printed it"
    assert leaks.leaked(needles, json.dumps(authenticated.state)) == []
    assert authenticated.files_with_the_password == []
