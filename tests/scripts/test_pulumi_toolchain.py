"""The Pulumi toolchain's pins: one place for its versions, the SDKs pinned to the binaries, and
build.sh refusing a missing or altered prebuilt plugin before any long build."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

from offline.paths import PROJECT_ROOT
from tests.support.pulumi_cli import toolchain_versions

TOOLCHAIN = PROJECT_ROOT / "scripts" / "pulumi-toolchain"
BUILD = TOOLCHAIN / "build.sh"


def _pins(requirements: Path) -> dict[str, str]:
    pins = {}
    for line in requirements.read_text().splitlines():
        if match := re.match(r"^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;#]+)", line):
            pins[match[1].lower()] = match[2]
    return pins


def test_the_sdks_are_pinned_to_the_toolchains_versions() -> None:
    # The SDK asks the engine for a plugin of its own version: a mismatch means a warning on
    # every run, or a plugin download where there is none.
    versions, pins = toolchain_versions(), _pins(PROJECT_ROOT / "requirements.txt")
    assert pins["pulumi"] == versions["PULUMI_SDK_VERSION"]
    assert pins["pulumi-kubernetes"] == versions["PULUMI_KUBERNETES_VERSION"]
    assert pins["pulumi-random"] == versions["PULUMI_RANDOM_VERSION"]
    assert pins["pulumi-docker"] == versions["PULUMI_DOCKER_VERSION"]


def test_versions_are_written_in_one_place() -> None:
    # requirements.txt pins the SDKs; every other file refers to these two instead of repeating them.
    versions = toolchain_versions()
    for path in (PROJECT_ROOT / "Makefile", PROJECT_ROOT / ".ci" / "run", BUILD, PROJECT_ROOT / "policy" / "requirements.txt"):
        text = path.read_text()
        for name in ("PULUMI_CLI_VERSION", "PULUMI_KUBERNETES_VERSION", "PULUMI_RANDOM_VERSION", "PULUMI_DOCKER_VERSION"):
            assert f"={versions[name]}" not in text, f"{path.name} repeats {name}"
    assert "-r ../requirements-dev.txt" in (PROJECT_ROOT / "policy" / "requirements.txt").read_text()


def test_every_prebuilt_plugin_has_a_committed_checksum() -> None:
    lines = (TOOLCHAIN / "prebuilt.sha256").read_text().splitlines()
    entries = {name: digest for digest, name in (line.split() for line in lines if line.strip())}
    assert {Path(name).name for name in entries} == {"pulumi-language-python", "pulumi-resource-random", "pulumi-resource-docker"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in entries.values())


def _build(tmp_path: Path, prebuilt: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/local/go/bin:/usr/bin:/bin",  # no `pulumi` on it, so the script does its work
        "HOME": str(tmp_path / "home"),
        "PULUMI_PREBUILT_DIR": str(prebuilt),
        "PULUMI_TOOLCHAIN_CACHE": str(tmp_path / "cache"),
    }
    return subprocess.run([str(BUILD)], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_a_missing_prebuilt_plugin_is_named_before_anything_builds(tmp_path: Path) -> None:
    prebuilt = tmp_path / "prebuilt"
    prebuilt.mkdir()
    result = _build(tmp_path, prebuilt)
    assert result.returncode == 1
    assert "prebuilt plugin missing: pulumi-language-python" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "cache").exists()


def test_an_altered_prebuilt_plugin_is_refused(tmp_path: Path) -> None:
    prebuilt = tmp_path / "prebuilt"
    prebuilt.mkdir()
    for name in ("pulumi-language-python", "pulumi-resource-random"):
        (prebuilt / name).write_text("#!/bin/sh\necho not the real plugin\n")
        (prebuilt / name).chmod(0o755)
    result = _build(tmp_path, prebuilt)
    assert result.returncode == 1
    altered = hashlib.sha256((prebuilt / "pulumi-language-python").read_bytes()).hexdigest()
    assert f"checksum mismatch for {prebuilt}/pulumi-language-python: sha256 {altered}" in result.stderr
