"""Secrets, for every stack: set as encrypted config or generated, they travel only as secret
Outputs into Kubernetes Secrets, and appear nowhere else: not in other objects, rendered
files, stack outputs, logs or stack files. (The real engine's state and output:
tests/e2e/engine/test_lifecycle.py.)"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline import render_dir
from offline.engine import StackRun
from offline.paths import PROJECT_ROOT
from offline.values import REDACTED, redact
from policy.rules import SECRET_NAME
from tests.support import leaks
from tests.support.stacks import STACKS

RunWith = Callable[..., StackRun]


@pytest.mark.parametrize("stack", STACKS)
def test_canary_secrets_never_leak(
    stack: str, run_with: RunWith, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    canaries = leaks.canaries(stack)
    image = yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]["fastapi-service:image"]
    run = run_with(stack, {"image": {**image, "registryUsername": leaks.REGISTRY_USERNAME}}, secrets=canaries)
    needles = leaks.needles(canaries)

    # Rendered files (what `make render` writes under build/): Secret data redacted, nothing else carries one.
    out = tmp_path / "render"
    assert render_dir.write(out, run.manifests())
    for path in out.rglob("*"):
        if path.is_file():
            assert leaks.leaked(needles, path.read_text()) == [], f"{path.name} leaks a canary"

    # Every object but Secrets, unredacted (what the provider would send).
    for resource in run.kubernetes_objects():
        if resource.kind != "Secret":
            assert leaks.leaked(needles, json.dumps(resource.inputs)) == [], f"{resource.kind}/{resource.name} leaks a canary"

    # Stack outputs, except those marked secret.
    for name, value in run.outputs.items():
        if name not in run.secret_outputs:
            assert leaks.leaked(needles, json.dumps(value)) == [], f"output {name} leaks a canary"

    captured = capsys.readouterr()
    assert leaks.leaked(needles, captured.out + captured.err + caplog.text) == [], "a canary reached the logs"

    # And the canaries did reach the Secrets, as secrets (so this test can fail).
    secret_text = " ".join(text for secret in run.find("Secret") for value in secret.secret_values() for text in leaks.decoded(value))
    assert [key for key, value in canaries.items() if value not in secret_text] == [], "a canary is carried by no Secret"
    for secret in run.find("Secret"):
        keys = {*secret.inputs.get("data", {}), *secret.inputs.get("stringData", {})}
        assert secret.manifest()["data"] == dict.fromkeys(keys, REDACTED)


def _passwords(run: StackRun) -> list[str]:
    generated = [str(resource.outputs["result"]) for resource in run.of_type("random:index/randomPassword:RandomPassword")]
    return [*generated, *[value for resource in run.resources for value in resource.secret_values() if len(value) >= 16]]


def test_every_password_travels_only_as_a_secret(stack_run: StackRun) -> None:
    passwords = _passwords(stack_run)
    assert passwords
    for resource in stack_run.resources:
        if resource.type.startswith("random:"):
            continue
        # With secret values redacted, no password may remain: each one was wrapped as a secret.
        visible = json.dumps(redact(resource.raw_inputs))
        # ...and outside Secrets, none may appear at all, not even wrapped (a secret env value).
        plain = json.dumps(resource.inputs) if resource.kind != "Secret" else ""
        for password in passwords:
            assert password not in visible, f"a password is not secret in {resource.type} {resource.name}"
            assert password not in plain, f"a password reaches {resource.type} {resource.name}"


def test_no_secret_is_exported_in_plaintext(stack_run: StackRun) -> None:
    secret_values = {value for resource in stack_run.resources for value in resource.secret_values() if len(value) >= 8}
    for name, value in stack_run.outputs.items():
        if name not in stack_run.secret_outputs:
            assert not any(secret in json.dumps(value) for secret in secret_values), f"output {name} leaks a secret"
    assert "apiKey" in stack_run.secret_outputs


def test_the_registry_password_reaches_the_build_only_as_a_secret(run_with: RunWith) -> None:
    image = {"registry": "registry.example.com", "repository": "team/api", "push": True, "registryUsername": leaks.REGISTRY_USERNAME}
    canary = leaks.canaries()["registryPassword"]
    run = run_with("dev", {"image": image}, secrets={"registryPassword": canary})
    (build,) = run.of_type("docker:index/image:Image")
    assert canary in build.secret_values()


def _secret_named_plaintext(node: Any, path: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        if set(node) == {"secure"}:
            return
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if SECRET_NAME.search(str(key).split(":", 1)[-1]) and not (isinstance(value, dict) and set(value) == {"secure"}):
                yield where
            else:
                yield from _secret_named_plaintext(value, where)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _secret_named_plaintext(item, f"{path}[{index}]")


def test_stack_files_hold_secrets_only_as_secure_values() -> None:
    files = sorted(path for path in PROJECT_ROOT.glob("Pulumi.*.yaml"))
    assert {path.name for path in files} >= {f"Pulumi.{stack}.yaml" for stack in STACKS}
    for path in files:
        document = yaml.safe_load(path.read_text()) or {}
        assert list(_secret_named_plaintext(document.get("config") or {})) == [], f"{path} holds a secret in plaintext"


def test_the_stack_file_scan_catches_plaintext() -> None:
    document = {"fastapi-service:mysqlPassword": "hunter2", "fastapi-service:apiKeys": {"secure": "v1:abc"}}
    assert list(_secret_named_plaintext(document)) == ["fastapi-service:mysqlPassword"]
    nested = {"fastapi-service:image": {"registryToken": "t0ken", "repository": "x"}}
    assert list(_secret_named_plaintext(nested)) == ["fastapi-service:image.registryToken"]
