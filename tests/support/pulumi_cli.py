"""The real Pulumi CLI, run on a copy of this project in a private workspace.

Everything a run writes stays under one temporary directory: the project copy, a `file://`
backend, PULUMI_HOME, HOME and TMPDIR. Every command's output is kept (`transcript`), so a
test can search all of it for leaked secrets, and timed (`timings`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.paths import PROJECT_ROOT

PROJECT = "fastapi-service"
COMMAND_TIMEOUT_SECONDS = 900.0
# The program's files: what a user's checkout holds for `pulumi up` (app/ is the image's build context).
PROGRAM_FILES = ("Pulumi.yaml", "__main__.py", "components", "app")
# What a checkout holds that no program reads: virtualenvs and caches.
NOT_PROGRAM = shutil.ignore_patterns("__pycache__", ".venv", ".mypy_cache", ".pytest_cache", ".ruff_cache")
VERSIONS_FILE = PROJECT_ROOT / "scripts" / "pulumi-toolchain" / "versions.env"


def toolchain_versions() -> dict[str, str]:
    """scripts/pulumi-toolchain/versions.env, the one place the toolchain's versions live."""
    versions = {}
    for line in VERSIONS_FILE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            versions[name.strip()] = value.strip()
    return versions


def toolchain_bin() -> Path:
    """The Pulumi toolchain directory (`make test-engine` exports it), or a clear failure."""
    value = os.environ.get("PULUMI_TOOLCHAIN_BIN")
    if not value:
        pytest.fail("PULUMI_TOOLCHAIN_BIN is not set: run these tests with `make test-engine` (it builds or reuses the toolchain)")
    path = Path(value)
    if not (path / "pulumi").is_file() or not (path.parent / "plugins").is_dir():
        pytest.fail(f"PULUMI_TOOLCHAIN_BIN={path} is not a toolchain from scripts/pulumi-toolchain/build.sh (bin/pulumi, plugins/)")
    return path


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def warnings(self) -> list[str]:
        """The engine's and the program's warning lines."""
        return [line.strip() for line in self.output.splitlines() if line.strip().lower().startswith("warning:")]

    def json(self) -> Any:
        return json.loads(self.stdout)


class PulumiCommandError(AssertionError):
    def __init__(self, result: Result) -> None:
        super().__init__(f"pulumi {' '.join(result.args)} exited {result.returncode}:\n{result.output[-6000:]}")
        self.result = result


@dataclass
class Workspace:
    """A project copy with its own backend, one stack, and the secret canaries set on it."""

    root: Path
    stack: str
    bin_dir: Path
    passphrase: str = field(default_factory=lambda: secrets.token_hex(16))
    transcript: list[Result] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)  # for every command (e.g. DOCKER_HOST)

    @property
    def project_dir(self) -> Path:
        return self.root / "project"

    @property
    def stack_file(self) -> Path:
        return self.project_dir / f"Pulumi.{self.stack}.yaml"

    @classmethod
    def create(cls, root: Path, stack: str, bin_dir: Path, program: Path = PROJECT_ROOT) -> Workspace:
        """A workspace for `stack` with the program in `program` (a checkout: this one by default)."""
        workspace = cls(root=root, stack=stack, bin_dir=bin_dir)
        for directory in ("project", "state", "home", "tmp"):
            (root / directory).mkdir(parents=True)
        workspace.use_program(program)
        shutil.copy2(program / f"Pulumi.{stack}.yaml", workspace.stack_file)
        workspace.install_providers()
        return workspace

    def use_program(self, program: Path) -> None:
        """The program files of `program` in place of the workspace's (its stack file and state stay)."""
        for name in PROGRAM_FILES:
            source, target = program / name, self.project_dir / name
            if target.is_dir():
                shutil.rmtree(target)  # a copy this workspace made
            if source.is_dir():
                shutil.copytree(source, target, ignore=NOT_PROGRAM)
            else:
                shutil.copy2(source, target)
        # The copy runs on the checkout's virtualenv (the one `make venv` built from requirements.txt).
        project = yaml.safe_load((self.project_dir / "Pulumi.yaml").read_text())
        project["runtime"]["options"]["virtualenv"] = str(PROJECT_ROOT / ".venv")
        (self.project_dir / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))

    def install_providers(self) -> None:
        """The providers into this workspace's plugin cache, where the engine takes them silently."""
        versions = toolchain_versions()
        providers = {"kubernetes": "PULUMI_KUBERNETES_VERSION", "random": "PULUMI_RANDOM_VERSION", "docker": "PULUMI_DOCKER_VERSION"}
        for name, version in ((name, versions[key]) for name, key in providers.items()):
            binary = self.bin_dir.parent / "plugins" / f"pulumi-resource-{name}"
            self.run("plugin", "install", "resource", name, version, "--file", str(binary))

    def env(self) -> dict[str, str]:
        return {
            "PATH": f"{self.bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.root / "home"),
            "TMPDIR": str(self.root / "tmp"),
            "LANG": "C.UTF-8",
            "PULUMI_HOME": str(self.root / "home" / ".pulumi"),
            "PULUMI_BACKEND_URL": f"file://{self.root / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": self.passphrase,
            "PULUMI_SKIP_UPDATE_CHECK": "1",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_SKIP_CONFIRMATIONS": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
            **self.environment,
        }

    def run(self, *args: str, check: bool = True, stdin: str | None = None, extra_env: Mapping[str, str] | None = None) -> Result:
        started = time.perf_counter()
        completed = subprocess.run(
            ["pulumi", *args, "--non-interactive", "--color", "never"],
            cwd=self.project_dir,
            env={**self.env(), **(extra_env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
        result = Result(tuple(args), completed.returncode, completed.stdout, completed.stderr, time.perf_counter() - started)
        self.transcript.append(result)
        if check and result.returncode != 0:
            raise PulumiCommandError(result)
        return result

    # -- config, as a user types it ------------------------------------------------------

    def set_secret(self, key: str, value: str) -> None:
        # The value on stdin, as a careful user does, keeps it out of the process list.
        self.run("config", "set", "--secret", f"{PROJECT}:{key}", stdin=value)

    def set_path(self, path: str, value: str) -> None:
        self.run("config", "set", "--path", f"{PROJECT}:{path}", value)

    def remove_key(self, key: str) -> None:
        self.run("config", "rm", f"{PROJECT}:{key}")

    def use_prebuilt_image(self, reference: str) -> None:
        """`image` becomes exactly {mode: prebuilt, reference}: no build, no registry."""
        self.remove_key("image")
        self.set_path("image.mode", "prebuilt")
        self.set_path("image.reference", reference)

    # -- reading back -------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        exported: dict[str, Any] = self.run("stack", "export").json()
        return exported

    def resources(self) -> list[dict[str, Any]]:
        resources: list[dict[str, Any]] = self.export()["deployment"].get("resources") or []
        return resources

    def steps(self, *preview_args: str) -> list[dict[str, Any]]:
        """`pulumi preview --json`'s steps, without the ones that change nothing."""
        preview = self.run("preview", "--json", *preview_args).json()
        return [step for step in preview.get("steps", []) if step.get("op") != "same"]

    def files_outside(self, excluded: Sequence[Path]) -> list[Path]:
        return [
            path
            for path in sorted(self.root.rglob("*"))
            if path.is_file() and not path.is_symlink() and not any(path.is_relative_to(skip) for skip in excluded)
        ]
