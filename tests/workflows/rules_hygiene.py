"""The workflows' rules about supply chain, privileges and secrets: actions pinned by commit, least
permissions, no persisted credentials, nothing interpolated into a shell, timeouts, no secret in
the files, every input documented. Each rule returns the problems it finds."""

from __future__ import annotations

import re

from tests.workflows.workflows import (
    CHECKOUT_ACTION,
    ROOT,
    Workflow,
    action_of,
    environment_of,
    line_of,
    resolve,
    steps,
)

# `uses: owner/repo[/path]@<40 hex> # v1.2.3`; local (./) actions and digest-pinned images are pinned by nature.
PINNED_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})\s+#\s*(?P<tag>v\d+(?:\.\d+)*)\s*$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)")
SECRET_NAME = re.compile(r"PASSPHRASE|TOKEN|SECRET|PASSWORD|PRIVATE_KEY|ACCESS_KEY|KUBE_CONFIG", re.IGNORECASE)
NOT_A_SECRET = re.compile(r"SECRETS?[-_]PROVIDER", re.IGNORECASE)  # the provider's name or URL, not a key
SECRET_REFERENCE = re.compile(r"^\$\{\{\s*(secrets\.[A-Za-z_][A-Za-z0-9_]*|github\.token)\s*\}\}$")
# Credential shapes that must never be in a workflow file: Pulumi, GitHub and AWS tokens, PEM keys,
# a kubeconfig's inline credentials, a Pulumi ciphertext.
CREDENTIAL = re.compile(
    r"pul-[0-9a-f]{40}|gh[pousr]_[A-Za-z0-9]{36}|github_pat_\w{22,}|AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY"
    r"|client-(?:key|certificate)-data:|v1:[A-Za-z0-9+/]{8,}={0,2}:v1:"
)
INPUT_REFERENCE = re.compile(r"\$\{\{[^}]*?\b(secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)")


def _readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.find(f"\n## {title}\n")
    if start < 0:
        return ""
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def every_action_is_pinned_to_a_commit_with_its_tag(workflows: dict[str, Workflow]) -> list[str]:
    """`uses: owner/repo@<40-hex sha> # vX.Y.Z`, and one action at one commit across all workflows."""
    problems = []
    pins: dict[str, tuple[str, str, str]] = {}
    for workflow in workflows.values():
        for number, line in enumerate(workflow.text.splitlines(), start=1):
            uses = USES_LINE.match(line)
            if not uses or uses["ref"].startswith("./") or re.match(r"docker://\S+@sha256:[0-9a-f]{64}$", uses["ref"]):
                continue
            pinned = PINNED_USES.match(line)
            if not pinned:
                problems.append(f"{workflow.file}:{number}: {uses['ref']} is not pinned to a commit SHA with its tag in a comment")
                continue
            first = pins.setdefault(pinned["action"], (pinned["sha"], pinned["tag"], f"{workflow.file}:{number}"))
            if first[:2] != (pinned["sha"], pinned["tag"]):
                problems.append(
                    f"{workflow.file}:{number}: {pinned['action']}@{pinned['sha']} # {pinned['tag']} differs from {first[2]} "
                    f"({first[0]} # {first[1]})"
                )
    return problems


def no_workflow_grants_write_at_the_top_level(workflows: dict[str, Workflow]) -> list[str]:
    """Top-level `permissions:` is set (else the token gets the repository default) and grants nothing to write."""
    problems = []
    for workflow in workflows.values():
        permissions = workflow.doc.get("permissions", "(unset)")
        if isinstance(permissions, dict):
            writes = sorted(scope for scope, level in permissions.items() if str(level) not in {"read", "none"})
            if writes:
                problems.append(f"{workflow.file}: top-level permissions grant {', '.join(writes)}: widen per job instead")
        elif permissions != "read-all":
            problems.append(f"{workflow.file}: top-level permissions are {permissions!r}: set `permissions: {{}}` and widen per job")
    return problems


def checkout_never_persists_credentials(workflows: dict[str, Workflow]) -> list[str]:
    return [
        f"{workflow.file}: job {job_id}: {CHECKOUT_ACTION} without `persist-credentials: false`"
        for workflow in workflows.values()
        for job_id, job in workflow.jobs.items()
        for step in steps(job)
        if action_of(step) == CHECKOUT_ACTION and str((step.get("with") or {}).get("persist-credentials")).lower() != "false"
    ]


def no_expression_is_interpolated_into_a_script(workflows: dict[str, Workflow]) -> list[str]:
    """`${{ }}` in `run:` is pasted into the shell before it runs (a PR title becomes code): pass it via `env:`."""
    return [
        f"{workflow.file}:{line_of(workflow, expression)}: job {job_id} interpolates {expression} into a run script"
        for workflow in workflows.values()
        for job_id, job in workflow.jobs.items()
        for step in steps(job)
        for expression in re.findall(r"\$\{\{.*?\}\}", str(step.get("run", "")))
    ]


def every_job_has_a_timeout(workflows: dict[str, Workflow]) -> list[str]:
    return [
        f"{workflow.file}: job {job_id} has no timeout-minutes (the default is 6 hours)"
        for workflow in workflows.values()
        for job_id, job in workflow.jobs.items()
        if "uses" not in job and "timeout-minutes" not in job
    ]


def no_secret_is_written_in_a_workflow(workflows: dict[str, Workflow]) -> list[str]:
    """A secret-named env or input is exactly `${{ secrets.NAME }}`; no credential-shaped text anywhere."""
    problems = []
    for workflow in workflows.values():
        for number, line in enumerate(workflow.text.splitlines(), start=1):
            if CREDENTIAL.search(line):
                problems.append(f"{workflow.file}:{number}: a credential written in the file")
        for job_id, job in workflow.jobs.items():
            blocks = [workflow.doc.get("env") or {}, job.get("env") or {}]
            blocks += [block for step in steps(job) for block in (step.get("env") or {}, step.get("with") or {})]
            for block in blocks:
                for key, value in block.items():
                    secret_named = SECRET_NAME.search(str(key)) and not NOT_A_SECRET.search(str(key))
                    if secret_named and not SECRET_REFERENCE.match(str(value).strip()):
                        problems.append(f"{workflow.file}: job {job_id}: {key} is {value!r}, not a `${{{{ secrets.NAME }}}}` reference")
    return problems


def every_input_a_user_sets_is_documented(workflows: dict[str, Workflow]) -> list[str]:
    """Each secret, variable and environment a workflow reads is in the README's "CI/CD: the workflows"."""
    section = _readme_section("CI/CD: the workflows")
    if not section:
        return ['README.md has no "## CI/CD: the workflows" section']
    inputs = {f"{kind}.{name}" for workflow in workflows.values() for kind, name in INPUT_REFERENCE.findall(workflow.text)}
    names = {name.split(".", 1)[1] for name in inputs}
    environments = {
        environment
        for workflow in workflows.values()
        for job in workflow.jobs.values()
        for environment in resolve(environment_of(job) or "", job)
        if environment
    }
    return [
        f"{name} is used but not documented in README.md's CI/CD section"
        for name in sorted(names | environments)
        if f"`{name}`" not in section
    ]
