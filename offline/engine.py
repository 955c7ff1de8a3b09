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
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from offline import stack_file as stack_file_module
from offline.stack_file import StackFile

if TYPE_CHECKING:
    from components.config import StackConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# How the SDK marks a secret value on the wire (pulumi.runtime.rpc): a signature, not a secret.
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"  # noqa: S105
SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105
REDACTED = "<redacted>"
# What the Kubernetes provider adds to every object it names itself.
AUTONAMED_ANNOTATION = "pulumi.com/autonamed"


def secret_placeholder(key: str) -> str:
    """What an encrypted (`secure:`) config value reads as offline: recognisable, never the real value."""
    return f"offline-placeholder-secret-for-{key}-0123456789abcdef"


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
        return [str(value) for value in _secret_leaves(self.raw_inputs)]

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
# Values


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG_VALUE


def _secret_leaves(value: Any) -> Iterator[Any]:
    if _is_secret(value):
        yield from _leaves(value["value"])
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secret_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _secret_leaves(item)


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif value is not None:
        yield value


def plain(value: Any) -> Any:
    """Unwrap secrets, turn integral floats into ints (protobuf carries every number as a double)."""
    if _is_secret(value):
        return plain(value["value"])
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def redact(value: Any) -> Any:
    if _is_secret(value):
        return REDACTED
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def _suffix(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:8]


# ---------------------------------------------------------------------------------------
# Stack config from disk


def read_stack_config(
    stack: str, config_file: Path | None = None, secrets: Mapping[str, str] | None = None, program_dir: Path = PROJECT_ROOT
) -> tuple[dict[str, str], list[str], StackFile]:
    """(config map as Pulumi passes it, secret keys, the parsed stack file) from Pulumi.yaml's
    defaults and the stack file. Raises StackFileError for a file that cannot be read.

    `secrets` (key -> plaintext, keys without the project prefix) are set as secret config,
    as `pulumi config set --secret` would: the tests pass canary values this way.
    """
    name, values = stack_file_module.project_defaults(program_dir / "Pulumi.yaml")
    path = config_file or program_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise stack_file_module.StackFileError(
            [stack_file_module.Located(path, 0, 0, f"does not exist: expected Pulumi.{stack}.yaml or CONFIG=<file>")]
        )
    parsed = stack_file_module.read(path)
    values.update(parsed.values)
    secret_keys = sorted(parsed.secure)
    for key in parsed.secure:
        values[key] = secret_placeholder(key.split(":", 1)[1])
    for key, value in (secrets or {}).items():
        values[f"{name}:{key}"] = value
        secret_keys.append(f"{name}:{key}")
    flat = {key: stack_file_module.config_text(value) for key, value in values.items()}
    return flat, sorted(set(secret_keys)), parsed


def assume_required_secrets(flat: dict[str, str], secret_keys: list[str]) -> list[str]:
    """Stand placeholders in for secret keys the settings require but the stack does not set.

    A committed stack file holds no secrets: the user sets them before `pulumi up` (and the
    real engine refuses the stack until they do). Returns the keys assumed.
    """
    from components.config import PROJECT, missing_required_secrets

    assumed = missing_required_secrets(flat, set(secret_keys))
    for key in assumed:
        flat[f"{PROJECT}:{key}"] = secret_placeholder(key)
        secret_keys.append(f"{PROJECT}:{key}")
    return assumed


def stack_settings(stack: str, config_file: Path | None = None) -> StackConfig:
    """The stack's config parsed as the program parses it, placeholders standing in for the
    secrets a user sets before `pulumi up`. Raises StackFileError or ConfigError."""
    from components.config import parse_stack_config

    flat, secret_keys, _ = read_stack_config(stack, config_file)
    assume_required_secrets(flat, secret_keys)
    return parse_stack_config(stack, flat, set(secret_keys))


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
    with _environment({"PULUMI_CONFIG": json.dumps(config), "PULUMI_CONFIG_SECRET_KEYS": json.dumps(secret_keys)}):
        _sync_await(run_pulumi_func(program))

    run = StackRun(stack=stack, resources=list(monitor.recorded), assumed_secrets=assumed)
    root = runtime_settings.get_root_resource()
    for name, value in (getattr(root, "outputs", None) or {}).items():
        output = pulumi.Output.from_input(value)
        run.outputs[name] = plain(_sync_await(output.future()))
        if _sync_await(output.is_secret()):
            run.secret_outputs.add(name)
    return run
