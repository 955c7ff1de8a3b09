"""The policy pack's policies: the deploy gates (policy/rules.py) as mandatory resource validations.

Importable without a running engine (the tests call `validate` directly); `__main__.py` wraps
them in a PolicyPack for `pulumi preview --policy-pack policy`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from policy.rules import image_violations, resource_violations, restricted_violations, secret_env_violations

Rule = Callable[[dict[str, Any]], list[str]]


def manifest_of(args: ResourceValidationArgs) -> dict[str, Any] | None:
    """The Kubernetes object a `kubernetes:*` resource declares (None for anything else)."""
    if not args.resource_type.startswith("kubernetes:") or args.resource_type.startswith("kubernetes:helm"):
        return None
    manifest = dict(args.props)
    manifest.setdefault("kind", args.resource_type.rsplit(":", 1)[-1])
    return manifest


def validator(rule: Rule) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        manifest = manifest_of(args)
        if manifest is None:
            return
        for problem in rule(manifest):
            report_violation(f"{manifest['kind']} {args.name}: {problem}", args.urn)

    return validate


POLICIES = [
    ResourceValidationPolicy(
        name="pod-security-restricted",
        description="Pod templates meet the Pod Security Standards `restricted` profile.",
        validate=validator(restricted_violations),
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="images-pinned-by-digest",
        description="Every container image is referenced by @sha256 digest.",
        validate=validator(image_violations),
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="secrets-only-as-files",
        description="Secrets reach containers as mounted files: no Secret-backed env, no literal secret-looking env values.",
        validate=validator(secret_env_violations),
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="resource-limits-set",
        description="Every container requests CPU and memory and has a memory limit.",
        validate=validator(resource_violations),
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
]
