"""Reading the stack config at the program's edge: every key Pulumi passes, through Pulumi's
public API, checked in one pass, every problem reported together.

(Over 300 lines on purpose: the one pass and the wording of every problem it reports belong
together; the second half is the wording, key paths and suggestions.)
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, get_args

import pulumi
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel, to_snake
from pydantic_core import ErrorDetails

from components.config.model import PROJECT, SECRET_KEYS, Secrets, StackConfig, StackSettings
from components.config.rules import Facts, Problem, check_rules, required_secrets

# Namespaces a stack file may use besides this project's: Pulumi's own and the providers'.
KNOWN_NAMESPACES = frozenset({PROJECT, "pulumi", "kubernetes", "random", "docker"})


class ConfigError(pulumi.RunError):
    """Every problem in the stack config, one line each. A RunError: Pulumi prints it without a traceback."""

    def __init__(self, stack: str, problems: Sequence[Problem]) -> None:
        self.stack = stack
        self.problems = list(problems)
        count = len(self.problems)
        lines = [f"invalid config for stack '{stack}' ({count} problem{'s' * (count != 1)}):"]
        lines += [f"  - {problem.key}: {problem.reason}" for problem in self.problems]
        super().__init__("\n".join(lines))


def load_stack_config() -> StackConfig:
    """The current stack's config; raises ConfigError before any resource registers."""
    config = pulumi.Config(PROJECT)
    flat = {key: str(value) for key, value in pulumi.runtime.get_config_env().items()}
    secret_keys = {key for key in flat if pulumi.runtime.is_config_secret(key)}
    secrets = {key: config.require_secret(key) for key in SECRET_KEYS if f"{PROJECT}:{key}" in secret_keys and flat[f"{PROJECT}:{key}"]}
    return parse_stack_config(pulumi.get_stack(), flat, secret_keys, secrets)


def parse_stack_config(
    stack: str,
    flat: Mapping[str, str],
    secret_keys: set[str],
    secrets: Mapping[str, pulumi.Output[str]] | None = None,
) -> StackConfig:
    """Check `flat` (every config key as Pulumi passes it: `namespace:key` -> text)."""
    problems: list[Problem] = []
    project: dict[str, str] = {}
    for full_key, text in flat.items():
        namespace, _, key = full_key.partition(":")
        if namespace not in KNOWN_NAMESPACES:
            problems.append(
                Problem(key, f"unknown namespace '{namespace}'{_suggest(namespace, KNOWN_NAMESPACES, full_key=key)}", namespace)
            )
        elif namespace == PROJECT:
            project[key] = text
    secrets_set = _secrets_set(project, secret_keys, problems)
    sections, broken = _sections(project, problems)
    settings = StackSettings.model_construct(**{**_defaults(), **sections})
    problems += [found for found in check_rules(Facts(settings, frozenset(secrets_set))) if not _near(found.path, broken)]
    if settings.environment == "prod":
        problems += _weak_app_secrets(project, secrets_set)
    if problems:
        raise ConfigError(stack, problems)
    given = {to_snake(key): value for key, value in (secrets or {}).items() if key in secrets_set}
    return StackConfig(stack=stack, secrets=Secrets(**given), **sections)


def missing_required_secrets(flat: Mapping[str, str], secret_keys: set[str]) -> list[str]:
    """Secret keys the (otherwise parseable) settings require but `flat` does not set.

    For a preview without the user's secrets (`make render` of a committed stack): the caller
    can stand placeholders in for these and say so.
    """
    project = {full_key.partition(":")[2]: text for full_key, text in flat.items() if full_key.startswith(f"{PROJECT}:")}
    sections, broken = _sections(project, [])
    if broken:
        return []
    settings = StackSettings.model_construct(**{**_defaults(), **sections})
    given = _secrets_set(project, secret_keys, [])
    return sorted(set(required_secrets(settings)) - given)


# The app refuses these in prod at start (app/src/service/config.py): refused here first, so a
# weak value stops `pulumi up` before any resource rather than failing the migration Job.
APP_SECRETS_CHECKED_IN_PROD = ("mysqlPassword", "redisPassword", "apiKeys")
MIN_PROD_SECRET_LENGTH = 32
KNOWN_WEAK_SECRETS = frozenset({"changethis", "changeme", "password", "secret", "admin"})


def _weak_app_secrets(project: Mapping[str, str], secrets_set: set[str]) -> list[Problem]:
    """Each prod secret the app would refuse, named by key, never quoting the value."""
    problems = []
    for key in APP_SECRETS_CHECKED_IN_PROD:
        if key not in secrets_set:
            continue  # generated (pulumi_random, long enough) or not used
        values = [part.strip() for part in project[key].replace("\n", ",").split(",") if part.strip()]
        if any(value.lower() in KNOWN_WEAK_SECRETS for value in values):
            problems.append(Problem(key, "is a known default value (refused in prod)"))
        elif any(len(value) < MIN_PROD_SECRET_LENGTH for value in values):
            problems.append(Problem(key, f"is shorter than {MIN_PROD_SECRET_LENGTH} characters (refused in prod, as the app does)"))
    return problems


def _secrets_set(project: Mapping[str, str], secret_keys: set[str], problems: list[Problem]) -> set[str]:
    """The secret keys given a value; one given in plaintext is a problem (it sits in the stack file)."""
    given = set()
    for key in SECRET_KEYS:
        text = project.get(key, "")
        if text and f"{PROJECT}:{key}" not in secret_keys:
            problems.append(Problem(key, f"is stored in plaintext: set it with 'pulumi config set --secret {key}'"))
        elif text:
            given.add(key)
    return given


def _sections(project: Mapping[str, str], problems: list[Problem]) -> tuple[dict[str, Any], set[str]]:
    """The parsed sections, and the key paths that were wrong (their problems added to `problems`).

    A section with a wrong value is parsed again without it (its default stands in), so the
    rules still check the rest of it: one run reports every mistake.
    """
    keys = {to_camel(name): name for name in StackSettings.model_fields}
    sections: dict[str, Any] = {}
    broken: set[str] = set()
    for key, text in project.items():
        if key in SECRET_KEYS:
            continue
        if key not in keys:
            problems.append(Problem(key, f"unknown key{_suggest_path(key)}"))
            continue
        name = keys[key]
        try:
            sections[name] = _parse_section(name, text)
        except ValidationError as error:
            found = [_problem(detail, key) for detail in error.errors(include_url=False)]
            problems += found
            broken.update(problem.path for problem in found)
            lenient = _without_errors(name, text, error)
            if lenient is not None:
                sections[name] = lenient
            else:
                broken.add(key)
        except ValueError as error:
            problems.append(Problem(key, str(error)))
            broken.add(key)
    if "namespace" not in sections and "namespace" not in broken:
        problems.append(Problem("namespace", "required: the namespace the stack owns"))
        broken.add("namespace")
    return sections, broken


def _without_errors(name: str, text: str, error: ValidationError, attempts: int = 5) -> Any | None:
    """The section parsed with every wrong value removed, or None if that cannot be done."""
    import json

    data = json.loads(text) if _is_model(StackSettings.model_fields[name].annotation) else None
    for _ in range(attempts):
        if data is None:
            return None
        for detail in sorted(error.errors(include_url=False), key=lambda item: [str(part) for part in item["loc"]], reverse=True):
            if detail["type"] == "missing" or not _remove(data, [part for part in detail["loc"] if not _is_tag(part)]):
                return None
        try:
            return _parse_section(name, json.dumps(data))
        except ValidationError as again:
            error = again
    return None


def _is_tag(part: Any) -> bool:
    return isinstance(part, str) and part.startswith(("function-", "json-or-python"))


def _remove(data: Any, location: list[Any]) -> bool:
    for part in location[:-1]:
        if (isinstance(data, dict) and part in data) or (isinstance(data, list) and isinstance(part, int) and part < len(data)):
            data = data[part]
        else:
            return False
    last = location[-1] if location else None
    if isinstance(data, dict) and last in data:
        del data[last]
        return True
    if isinstance(data, list) and isinstance(last, int) and last < len(data):
        del data[last]
        return True
    return False


def _near(path: str, broken: set[str]) -> bool:
    """A rule's finding that may only stem from a wrong value nearby (same section and field)."""
    head = ".".join(path.split(".")[:2])
    return any(
        ".".join(wrong.split(".")[:2]) == head or path.startswith(f"{wrong}.") or wrong == path.split(".", maxsplit=1)[0]
        for wrong in broken
    )


def _defaults() -> dict[str, Any]:
    return {name: field.default for name, field in StackSettings.model_fields.items() if not field.is_required()}


def _parse_section(name: str, text: str) -> Any:
    field = StackSettings.model_fields[name]
    adapter: TypeAdapter[Any] = TypeAdapter(_annotated(field))
    if _is_model(field.annotation):
        # Structured keys reach the program as JSON text.
        if not text.lstrip().startswith("{"):
            raise ValueError(f"expected a mapping of keys, got {text!r}: set its fields with 'pulumi config set --path'")
        return adapter.validate_json(text, strict=True)
    return adapter.validate_python(text, strict=True)


def _annotated(field: Any) -> Any:
    return Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


# ---------------------------------------------------------------------------------------
# Messages


def _problem(detail: ErrorDetails, section: str) -> Problem:
    location = [part for part in detail["loc"] if not _is_tag(part)]
    if location[-1:] == ["[key]"]:
        location = location[:-2]  # a mapping's key is wrong: the message names it, the path is the mapping's
    path = ".".join([section, *(f"[{part}]" if isinstance(part, int) else str(part) for part in location)]).replace(".[", "[")
    return Problem(path, _reason(detail, section, location))


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int | float):
        return f"{value} (a number)"
    if isinstance(value, str):
        return f"{value!r} (a string)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "nothing" if value is None else repr(value)


_EXPECTED = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "model_type": "a mapping of keys",
    "model_attributes_type": "a mapping of keys",
    "dict_type": "a mapping of keys",
}


def _reason(detail: ErrorDetails, section: str, location: list[Any]) -> str:
    kind, given, context = detail["type"], detail.get("input"), detail.get("ctx") or {}
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_describe(given)}"
    special: dict[str, Callable[[], str]] = {
        "extra_forbidden": lambda: f"unknown key{_suggest(str(location[-1]), _keys_at(section, location[:-1]))}",
        "missing": lambda: "required",
        "literal_error": lambda: f"expected one of {context.get('expected', '')}, got {_describe(given)}",
        "greater_than_equal": lambda: f"must be at least {context.get('ge')}, got {given}",
        "less_than_equal": lambda: f"must be at most {context.get('le')}, got {given}",
        "json_invalid": lambda: f"is not valid structured config: {context.get('error', detail['msg'])}",
    }
    if kind in special:
        return special[kind]()
    return str(detail["msg"]).removeprefix("Value error, ")


def _keys_at(section: str, location: list[Any]) -> list[str]:
    """The keys the model allows at `section.location` (for 'did you mean')."""
    model: Any = StackSettings.model_fields[to_snake(section)].annotation
    for part in location:
        if isinstance(part, int) or not _is_model(_model_of(model)):
            return []
        model = _model_of(model)
        fields = {field.alias or name: field for name, field in model.model_fields.items()}
        if part not in fields:
            return []
        model = fields[part].annotation
    model = _model_of(model)
    return [field.alias or name for name, field in model.model_fields.items()] if _is_model(model) else []


def _model_of(annotation: Any) -> Any:
    candidates = [annotation, *get_args(annotation)]
    return next((item for item in candidates if _is_model(item)), annotation)


def _suggest_path(key: str) -> str:
    """For an unknown top-level key: the closest key, or the nested key it most likely means."""
    paths = [*SECRET_KEYS, *_paths(StackSettings, "")]
    close = difflib.get_close_matches(key, paths, n=1, cutoff=0.8)
    nested = [path for path in paths if path.rsplit(".", 1)[-1] == key]
    match = close or nested or difflib.get_close_matches(key, [path.rsplit(".", 1)[-1] for path in paths], n=1, cutoff=0.6)
    if not match:
        return ""
    suggestion = match[0] if match[0] in paths else next(path for path in paths if path.rsplit(".", 1)[-1] == match[0])
    return f" (did you mean '{suggestion}'?)"


def _paths(model: Any, prefix: str) -> list[str]:
    found = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{field.alias or name}"
        found.append(path)
        nested = _model_of(field.annotation)
        if _is_model(nested):
            found += _paths(nested, f"{path}.")
    return found


def _suggest(word: str, known: Any, full_key: str | None = None) -> str:
    match = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    if not match:
        return ""
    return f" (did you mean '{match[0]}:{full_key}'?)" if full_key is not None else f" (did you mean '{match[0]}'?)"
