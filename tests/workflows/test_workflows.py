"""The workflows users copy (.github/workflows/) keep their promises: every stack previewed,
drift-checked and deployed through its own gates, actions pinned, least permissions, no secret in
the files, nothing interpolated into a shell. Each rule returns the problems it finds, so the same
rule is proven on the committed files and on broken copies of them (the table at the end)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.workflows.workflows import (
    CHECKOUT_ACTION,
    PULUMI_ACTION,
    ROOT,
    WORKFLOWS,
    Operation,
    Workflow,
    action_of,
    committed_stacks,
    environment_of,
    line_of,
    load,
    operations,
    resolve,
    steps,
    upstream_jobs,
)

Rule = Callable[[dict[str, Workflow]], list[str]]
READ_ONLY = {"preview", "refresh"}
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


def _operations(workflows: dict[str, Workflow]) -> list[Operation]:
    return operations(workflows)


def _on(workflow: Workflow, event: str) -> bool:
    return event in workflow.triggers


def _push_branches(workflow: Workflow) -> list[str]:
    push = workflow.triggers.get("push")
    return [str(branch) for branch in push.get("branches") or []] if isinstance(push, dict) else []


def _readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.find(f"\n## {title}\n")
    if start < 0:
        return ""
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def _versions(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


# --- the stacks ----------------------------------------------------------------------------


def every_stack_name_has_its_stack_file(workflows: dict[str, Workflow]) -> list[str]:
    """A stack a workflow runs is a committed Pulumi.<stack>.yaml (else the job fails, or acts on a stray stack)."""
    committed = committed_stacks()
    return [
        f"{op.where} runs `{op.command}` on stack {op.stack or '(none named)'}, which has no Pulumi.{op.stack}.yaml"
        for op in _operations(workflows)
        if op.stack not in committed
    ]


def every_committed_stack_is_previewed_on_pull_requests(workflows: dict[str, Workflow]) -> list[str]:
    previewed = {op.stack for op in _operations(workflows) if op.command == "preview" and _on(op.workflow, "pull_request")}
    return [f"stack {stack} is not previewed by any pull_request workflow" for stack in committed_stacks() if stack not in previewed]


def every_committed_stack_is_drift_checked(workflows: dict[str, Workflow]) -> list[str]:
    """On a schedule, `pulumi preview --refresh --expect-no-changes`: a change made outside Pulumi fails the job."""
    checked = {
        op.stack
        for op in _operations(workflows)
        if op.command == "preview" and op.refresh and op.expect_no_changes and _on(op.workflow, "schedule")
    }
    return [
        f"stack {stack} has no scheduled `pulumi preview --refresh --expect-no-changes`"
        for stack in committed_stacks()
        if stack not in checked
    ]


def every_committed_stack_is_deployed_from_main(workflows: dict[str, Workflow]) -> list[str]:
    deployed = {op.stack for op in _operations(workflows) if op.command == "up" and "main" in _push_branches(op.workflow)}
    return [f"stack {stack} is not deployed (`up`) on push to main" for stack in committed_stacks() if stack not in deployed]


# --- the deploy gates ----------------------------------------------------------------------


def each_deploy_job_runs_in_its_stacks_environment(workflows: dict[str, Workflow]) -> list[str]:
    """`up` runs in the GitHub environment named after the stack: its secrets, its required reviewers."""
    problems = []
    for op in _operations(workflows):
        if op.command in READ_ONLY:
            continue
        environment = environment_of(op.job)
        if environment is None:
            problems.append(f"{op.where} runs `{op.command}` on {op.stack} without an `environment:` (no approval, no scoped secrets)")
        elif op.stack not in resolve(environment, op.job):
            problems.append(f"{op.where} runs `{op.command}` on {op.stack} in environment {environment}, not {op.stack}")
    return problems


def read_only_jobs_never_use_a_deploy_environment(workflows: dict[str, Workflow]) -> list[str]:
    """Previews and drift checks use `<stack>-preview`: the deploy environments' secrets stay with the deploys."""
    problems = []
    for op in _operations(workflows):
        if op.command not in READ_ONLY:
            continue
        environments = resolve(environment_of(op.job) or "", op.job)
        if f"{op.stack}-preview" not in environments:
            problems.append(f"{op.where} runs `{op.command}` on {op.stack} outside the environment {op.stack}-preview")
    return problems


def production_deploys_after_dev(workflows: dict[str, Workflow]) -> list[str]:
    """A stack whose config says `environment: prod` deploys only after a dev stack's deploy job succeeded."""
    stacks = committed_stacks()

    def kind(stack: str) -> str:
        return str(stacks.get(stack, {}).get("fastapi-service:environment", "dev"))

    problems = []
    deploys = [op for op in _operations(workflows) if op.command == "up"]
    for op in deploys:
        if kind(op.stack) != "prod":
            continue
        before = upstream_jobs(op.workflow, op.job_id)
        dev_jobs = {other.job_id for other in deploys if other.workflow is op.workflow and kind(other.stack) == "dev"}
        if not before & dev_jobs:
            problems.append(f"{op.where} deploys {op.stack} without `needs:` on a dev deploy ({', '.join(sorted(dev_jobs)) or 'none'})")
    return problems


def deploys_are_serialised_per_stack(workflows: dict[str, Workflow]) -> list[str]:
    """One `up` per stack at a time, never cancelled halfway (that leaves pending operations in the state)."""
    problems = []
    groups: dict[str, str] = {}
    for op in _operations(workflows):
        if op.command in READ_ONLY:
            continue
        concurrency = op.job.get("concurrency")
        group = concurrency.get("group") if isinstance(concurrency, dict) else concurrency
        if not group:
            problems.append(f"{op.where} deploys {op.stack} without a job `concurrency:` group")
            continue
        group = next((g for g in resolve(group, op.job) if op.stack in g), str(group))
        if op.stack not in group:
            problems.append(f"{op.where}: concurrency group {group!r} does not name the stack {op.stack}")
        elif groups.setdefault(group, op.stack) != op.stack:
            problems.append(f"{op.where}: concurrency group {group!r} is shared by stacks {groups[group]} and {op.stack}")
        if isinstance(concurrency, dict) and str(concurrency.get("cancel-in-progress", False)).lower() != "false":
            problems.append(f"{op.where}: a deploy must not be cancel-in-progress")
    return problems


def pulumi_cli_is_the_projects_version(workflows: dict[str, Workflow]) -> list[str]:
    """The CLI the workflows install is the toolchain's (scripts/pulumi-toolchain/versions.env), as `make up` runs."""
    expected = _versions(ROOT / "scripts" / "pulumi-toolchain" / "versions.env")["PULUMI_CLI_VERSION"]
    return [
        f"{workflow.file}: job {job_id} installs Pulumi {(step.get('with') or {}).get('pulumi-version', '(latest ^3)')}, not {expected}"
        for workflow in workflows.values()
        for job_id, job in workflow.jobs.items()
        for step in steps(job)
        if action_of(step) == PULUMI_ACTION and str((step.get("with") or {}).get("pulumi-version")) != expected
    ]


def project_ci_runs_on_push_and_pull_request(workflows: dict[str, Workflow]) -> list[str]:
    runs = [
        workflow.file
        for workflow in workflows.values()
        if _on(workflow, "push") and _on(workflow, "pull_request")
        for job in workflow.jobs.values()
        for step in steps(job)
        if ".ci/run" in str(step.get("run", ""))
    ]
    return [] if runs else ["no workflow runs .ci/run on both push and pull_request"]


# --- supply chain and least privilege -------------------------------------------------------


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


# --- secrets and inputs ---------------------------------------------------------------------


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


RULES: list[Rule] = [
    every_stack_name_has_its_stack_file,
    every_committed_stack_is_previewed_on_pull_requests,
    every_committed_stack_is_drift_checked,
    every_committed_stack_is_deployed_from_main,
    each_deploy_job_runs_in_its_stacks_environment,
    read_only_jobs_never_use_a_deploy_environment,
    production_deploys_after_dev,
    deploys_are_serialised_per_stack,
    pulumi_cli_is_the_projects_version,
    project_ci_runs_on_push_and_pull_request,
    every_action_is_pinned_to_a_commit_with_its_tag,
    no_workflow_grants_write_at_the_top_level,
    checkout_never_persists_credentials,
    no_expression_is_interpolated_into_a_script,
    every_job_has_a_timeout,
    no_secret_is_written_in_a_workflow,
    every_input_a_user_sets_is_documented,
]


def test_the_workflows_and_the_stacks_exist() -> None:
    assert {"preview.yml", "deploy.yml", "drift.yml", "ci.yml"} <= set(load())
    assert committed_stacks(), "no Pulumi.<stack>.yaml committed"


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_the_committed_workflows_keep_the_rule(rule: Rule) -> None:
    assert rule(load()) == []


@dataclass(frozen=True)
class Breakage:
    """A copy of the workflows with `old` replaced by `new` in `file`, which `rule` must report as `message` (a regex)."""

    file: str
    old: str
    new: str
    rule: Rule
    message: str

    @property
    def id(self) -> str:
        return f"{self.rule.__name__}:{self.file}:{BROKEN.index(self)}"


BROKEN = [
    Breakage(
        "preview.yml",
        "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1",
        "actions/checkout@v7",
        every_action_is_pinned_to_a_commit_with_its_tag,
        r"preview\.yml:\d+: actions/checkout@v7 is not pinned",
    ),
    Breakage(
        "deploy.yml",
        "astral-sh/setup-uv@20cfd1bf945f4377ade1205e4dbc17946fc9a30d # v10.0.1",
        "astral-sh/setup-uv@20cfd1bf945f4377ade1205e4dbc17946fc9a30d",
        every_action_is_pinned_to_a_commit_with_its_tag,
        r"deploy\.yml:\d+: astral-sh/setup-uv@\w+ is not pinned to a commit SHA with its tag",
    ),
    Breakage(
        "preview.yml",
        "stack: [dev, prod]",
        "stack: [dev, staging]",
        every_stack_name_has_its_stack_file,
        r"stack staging, .*no Pulumi\.staging\.yaml",
    ),
    Breakage(
        "preview.yml",
        "stack: [dev, prod]",
        "stack: [dev]",
        every_committed_stack_is_previewed_on_pull_requests,
        r"stack prod is not previewed",
    ),
    Breakage(
        "deploy.yml", "stack-name: prod", "stack-name: production", every_stack_name_has_its_stack_file, r"no Pulumi\.production\.yaml"
    ),
    Breakage("drift.yml", " --expect-no-changes \\", " \\", every_committed_stack_is_drift_checked, r"stack dev has no scheduled"),
    Breakage(
        "drift.yml", "--refresh --expect-no-changes \\", "--expect-no-changes \\", every_committed_stack_is_drift_checked, r"no scheduled"
    ),
    Breakage("drift.yml", "  schedule:\n", "  push:\n", every_committed_stack_is_drift_checked, r"stack prod has no scheduled"),
    Breakage(
        "deploy.yml",
        "    environment: prod\n",
        "",
        each_deploy_job_runs_in_its_stacks_environment,
        r"job prod runs `up` on prod without an `environment:`",
    ),
    Breakage(
        "deploy.yml",
        "    environment: prod\n",
        "    environment: dev\n",
        each_deploy_job_runs_in_its_stacks_environment,
        r"in environment dev, not prod",
    ),
    Breakage(
        "preview.yml",
        "environment: ${{ matrix.stack }}-preview",
        "environment: ${{ matrix.stack }}",
        read_only_jobs_never_use_a_deploy_environment,
        r"outside the environment prod-preview",
    ),
    Breakage(
        "deploy.yml",
        "    needs: dev\n",
        "",
        production_deploys_after_dev,
        r"job prod deploys prod without `needs:` on a dev deploy \(dev\)",
    ),
    Breakage(
        "deploy.yml",
        "group: deploy-prod",
        "group: deploy",
        deploys_are_serialised_per_stack,
        r"group 'deploy' does not name the stack prod",
    ),
    Breakage(
        "deploy.yml",
        "group: deploy-prod\n      cancel-in-progress: false",
        "group: deploy-prod\n      cancel-in-progress: true",
        deploys_are_serialised_per_stack,
        r"job prod: a deploy must not be cancel-in-progress",
    ),
    Breakage(
        "deploy.yml",
        "pulumi-version: 3.277.0",
        "pulumi-version: 3.200.0",
        pulumi_cli_is_the_projects_version,
        r"installs Pulumi 3\.200\.0, not 3\.277\.0",
    ),
    Breakage("ci.yml", "  pull_request:\n", "", project_ci_runs_on_push_and_pull_request, r"no workflow runs \.ci/run"),
    Breakage(
        "ci.yml",
        "permissions: {}",
        "permissions: write-all",
        no_workflow_grants_write_at_the_top_level,
        r"ci\.yml: top-level permissions are 'write-all'",
    ),
    Breakage(
        "deploy.yml",
        "permissions: {}",
        "permissions:\n  contents: read\n  id-token: write",
        no_workflow_grants_write_at_the_top_level,
        r"deploy\.yml: top-level permissions grant id-token",
    ),
    Breakage(
        "drift.yml",
        "permissions: {}\n",
        "",
        no_workflow_grants_write_at_the_top_level,
        r"drift\.yml: top-level permissions are '\(unset\)'",
    ),
    Breakage(
        "ci.yml",
        "          persist-credentials: false\n",
        "          fetch-depth: 1\n",
        checkout_never_persists_credentials,
        r"ci\.yml: job ci: actions/checkout without",
    ),
    Breakage(
        "preview.yml",
        '          uv python install "$UV_PYTHON"\n',
        '          echo "${{ github.event.pull_request.title }}"\n          uv python install "$UV_PYTHON"\n',
        no_expression_is_interpolated_into_a_script,
        r"preview\.yml:\d+: job preview interpolates \$\{\{ github\.event\.pull_request\.title \}\}",
    ),
    Breakage("drift.yml", "    timeout-minutes: 30\n", "", every_job_has_a_timeout, r"drift\.yml: job drift has no timeout-minutes"),
    Breakage(
        "deploy.yml",
        "PULUMI_CONFIG_PASSPHRASE: ${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
        "PULUMI_CONFIG_PASSPHRASE: correct-horse-battery-staple",
        no_secret_is_written_in_a_workflow,
        r"PULUMI_CONFIG_PASSPHRASE is 'correct-horse-battery-staple'",
    ),
    Breakage(
        "preview.yml",
        "PULUMI_ACCESS_TOKEN: ${{ secrets.PULUMI_ACCESS_TOKEN }}",
        "PULUMI_ACCESS_TOKEN: ${{ vars.PULUMI_ACCESS_TOKEN }}",
        no_secret_is_written_in_a_workflow,
        r"PULUMI_ACCESS_TOKEN is .*not a `\$\{\{ secrets\.NAME \}\}` reference",
    ),
    Breakage(
        "drift.yml",
        "          STACK: ${{ matrix.stack }}\n          KUBECONFIG",
        "          STACK: ${{ matrix.stack }}\n          HINT: pul-" + "0123456789abcdef" * 2 + "01234567\n          KUBECONFIG",
        no_secret_is_written_in_a_workflow,
        r"drift\.yml:\d+: a credential written in the file",
    ),
    Breakage(
        "preview.yml",
        "AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}",
        "AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}\n          AWS_SESSION_TOKEN: ${{ secrets.AWS_SESSION_TOKEN }}",
        every_input_a_user_sets_is_documented,
        r"AWS_SESSION_TOKEN is used but not documented",
    ),
]


@pytest.mark.parametrize("breakage", BROKEN, ids=lambda breakage: breakage.id)
def test_a_broken_copy_of_the_workflows_breaks_the_rule(tmp_path: Path, breakage: Breakage) -> None:
    shutil.copytree(WORKFLOWS, tmp_path, dirs_exist_ok=True)
    path = tmp_path / breakage.file
    text = path.read_text()
    assert breakage.old in text, f"the breakage no longer applies: {breakage.old!r} is not in {breakage.file}"
    path.write_text(text.replace(breakage.old, breakage.new, 1))
    problems = breakage.rule(load(tmp_path))
    assert any(re.search(breakage.message, problem) for problem in problems), problems
