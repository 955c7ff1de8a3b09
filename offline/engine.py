"""Run the real Pulumi program offline, under `pulumi.runtime.set_mocks`, and record what it registers.

The mocks behave like the engine where the program and its tests can tell the difference:
Kubernetes auto-naming (`<name>-<8 hex>` unless `metadata.name` is given), generated random
values, image digests, whole numbers as ints, and every resource's type, name, inputs,
parent, dependencies, provider and options. Stack config comes from `Pulumi.<stack>.yaml`
(and the project defaults in `Pulumi.yaml`); `secure:` values become placeholder secrets and
are never decrypted.
"""

from __future__ import annotations

import hashlib
import json
import os
import runpy
import signal
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from offline.paths import PROJECT_ROOT
from offline.stack_config import assume_required_secrets, read_stack_config
from offline.values import REDACTED, plain, redact, secret_leaves

# What the Kubernetes provider adds to every object it names itself.
AUTONAMED_ANNOTATION = "pulumi.com/autonamed"


@dataclass(frozen=True)
class RecordedResource:
    urn: str
    type: str
    name: str
    raw_inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    parent: str
    depends_on: tuple[str, ...]
    provider: str
    custom: bool
    protect: bool
    retain_on_delete: bool
    ignore_changes: tuple[str, ...]
    additional_secret_outputs: tuple[str, ...]
    delete_before_replace: bool
    replace_on_changes: tuple[str, ...]
    custom_timeouts: Mapping[str, str]

    @property
    def inputs(self) -> Any:
        """The inputs with secrets unwrapped and whole numbers as ints (what a provider would see)."""
        return plain(self.raw_inputs)

    @property
    def is_kubernetes_object(self) -> bool:
        return self.custom and self.type.startswith("kubernetes:") and not self.type.startswith("kubernetes:helm")

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]

    def secret_values(self) -> list[str]:
        """Every input value the program passed as a secret."""
        return [str(value) for value in secret_leaves(self.raw_inputs)]

    def manifest(self) -> dict[str, Any]:
        """The object as the Kubernetes provider applies (and renders) it, secrets redacted.

        Like the provider: an auto-named object carries `pulumi.com/autonamed`, and a Secret's
        `stringData` is folded into `data` (which the provider base64-encodes; here redacted).
        """
        body = plain(redact(self.raw_inputs))
        metadata = {**body.get("metadata", {}), "name": self.outputs["metadata"]["name"]}
        if "name" not in self.inputs.get("metadata", {}):
            metadata["annotations"] = {**metadata.get("annotations", {}), AUTONAMED_ANNOTATION: "true"}
        body["metadata"] = metadata
        if body.get("kind") == "Secret":
            unredacted = self.inputs
            keys = {**unredacted.get("data", {}), **unredacted.get("stringData", {})}
            body.pop("stringData", None)
            body["data"] = dict.fromkeys(sorted(keys), REDACTED)
        return dict(body)


@dataclass
class StackRun:
    stack: str
    resources: list[RecordedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    assumed_secrets: list[str] = field(default_factory=list)  # required secret keys a placeholder stood in for

    def of_type(self, type_token: str) -> list[RecordedResource]:
        return [resource for resource in self.resources if resource.type == type_token]

    def kubernetes_objects(self) -> list[RecordedResource]:
        return [resource for resource in self.resources if resource.is_kubernetes_object]

    def manifests(self) -> list[dict[str, Any]]:
        return [resource.manifest() for resource in self.kubernetes_objects()]

    def find(self, kind: str, name_contains: str = "") -> list[RecordedResource]:
        return [
            resource
            for resource in self.kubernetes_objects()
            if resource.kind == kind and name_contains in resource.outputs["metadata"]["name"]
        ]


# ---------------------------------------------------------------------------------------
# The mocks


def _mock_classes() -> tuple[type, type]:
    import pulumi
    from pulumi.runtime.mocks import MockMonitor

    class EngineLikeMocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
            state = dict(args.inputs)
            if args.typ.startswith("kubernetes:") and "metadata" in state:
                metadata = dict(plain(state["metadata"]) or {})
                metadata.setdefault("name", f"{args.name}-{_suffix(args.typ, args.name)}")
                state["metadata"] = metadata
                return f"{metadata.get('namespace', '')}/{metadata['name']}".lstrip("/"), state
            if args.typ == "random:index/randomPassword:RandomPassword":
                length = int(plain(state.get("length", 16)))
                seed = hashlib.sha256(f"password/{args.name}".encode()).hexdigest()
                state["result"] = (seed * 4)[:length]
                state["bcryptHash"] = "$2a$10$" + seed[:53]
            if args.typ == "docker:index/image:Image":
                image_name = plain(state["imageName"])
                repository = image_name.rsplit(":", 1)[0] if ":" in image_name.split("/")[-1] else image_name
                # From what the image is made of (its tag is the build context's content hash),
                # never from where the checkout lives: the same app gives the same digest anywhere.
                build = plain(state.get("build") or {})
                made_of = {"image": image_name, "platform": build.get("platform"), "args": build.get("args")}
                digest = hashlib.sha256(json.dumps(made_of, sort_keys=True).encode()).hexdigest()
                state["repoDigest"] = f"{repository}@sha256:{digest}"
                state["baseImageName"] = image_name
            return f"{args.name}-id", state

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
            return {}, None

    class RecordingMonitor(MockMonitor):
        def __init__(self, mocks: pulumi.runtime.Mocks, recorded: list[RecordedResource]) -> None:
            super().__init__(mocks)
            self.recorded = recorded

        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
            response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
            if request.type == "pulumi:pulumi:Stack":
                return response
            registration = self.resources.get(response.urn)
            timeouts = request.customTimeouts
            self.recorded.append(
                RecordedResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    raw_inputs=_sync(request.object),
                    outputs=plain(registration.state) if registration else {},
                    parent=request.parent,
                    depends_on=tuple(request.dependencies),
                    provider=request.provider,
                    custom=request.custom,
                    protect=request.protect,
                    retain_on_delete=request.retainOnDelete,
                    ignore_changes=tuple(request.ignoreChanges),
                    additional_secret_outputs=tuple(request.additionalSecretOutputs),
                    delete_before_replace=request.deleteBeforeReplace,
                    replace_on_changes=tuple(request.replaceOnChanges),
                    custom_timeouts={"create": timeouts.create, "update": timeouts.update, "delete": timeouts.delete},
                )
            )
            return response

    return EngineLikeMocks, RecordingMonitor


def _suffix(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:8]


@contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _sync(struct: Any) -> dict[str, Any]:
    from pulumi.runtime import rpc
    from pulumi.runtime.sync_await import _ensure_event_loop

    _ensure_event_loop()  # type: ignore[no-untyped-call]
    return dict(rpc.deserialize_properties(struct, keep_unknowns=True, keep_internal=False))


# ---------------------------------------------------------------------------------------
# Running the program


def run_stack(
    stack: str,
    config_file: Path | None = None,
    secrets: Mapping[str, str] | None = None,
    program_dir: Path = PROJECT_ROOT,
    registered: list[RecordedResource] | None = None,
) -> StackRun:
    """Run `__main__.py` for `stack` under the mocks; return what it registered and exported.

    `registered`, when given, receives each resource as it registers, so a caller can see
    what a failing program registered before it failed.
    """
    import pulumi
    from pulumi.runtime import settings as runtime_settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    config, secret_keys, _ = read_stack_config(stack, config_file, secrets, program_dir)
    assumed = assume_required_secrets(config, secret_keys)
    project = yaml.safe_load((program_dir / "Pulumi.yaml").read_text())["name"]

    mocks_class, monitor_class = _mock_classes()
    mocks = mocks_class()
    monitor = monitor_class(mocks, registered if registered is not None else [])
    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_all_config(config, secret_keys)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)

    if str(program_dir) not in sys.path:
        sys.path.insert(0, str(program_dir))

    def program() -> None:
        runpy.run_path(str(program_dir / "__main__.py"), run_name="__main__")

    # As the language host does: the program reads its config from these (Pulumi's public API).
    # The program installs a SIGINT handler for the real engine's sake (components/interrupt.py):
    # this process keeps its own.
    sigint = signal.getsignal(signal.SIGINT)
    try:
        with _environment({"PULUMI_CONFIG": json.dumps(config), "PULUMI_CONFIG_SECRET_KEYS": json.dumps(secret_keys)}):
            _sync_await(run_pulumi_func(program))
    finally:
        signal.signal(signal.SIGINT, sigint)

    run = StackRun(stack=stack, resources=list(monitor.recorded), assumed_secrets=assumed)
    root = runtime_settings.get_root_resource()
    for name, value in (getattr(root, "outputs", None) or {}).items():
        output = pulumi.Output.from_input(value)
        run.outputs[name] = plain(_sync_await(output.future()))
        if _sync_await(output.is_secret()):
            run.secret_outputs.add(name)
    return run
