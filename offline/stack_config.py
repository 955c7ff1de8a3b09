"""A stack's config as Pulumi hands it to the program, read from disk: `Pulumi.yaml`'s defaults
and `Pulumi.<stack>.yaml`, with `secure:` values standing in as placeholders (never decrypted).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from offline import stack_file as stack_file_module
from offline.paths import PROJECT_ROOT
from offline.stack_file import StackFile

if TYPE_CHECKING:
    from components.config import StackConfig


def committed_stacks(program_dir: Path = PROJECT_ROOT) -> tuple[str, ...]:
    """Every stack with a committed `Pulumi.<stack>.yaml` beside `Pulumi.yaml`, sorted."""
    return tuple(sorted(path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in program_dir.glob("Pulumi.*.yaml")))


def secret_placeholder(key: str) -> str:
    """What an encrypted (`secure:`) config value reads as offline: recognisable, never the real value."""
    return f"offline-placeholder-secret-for-{key}-0123456789abcdef"


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
