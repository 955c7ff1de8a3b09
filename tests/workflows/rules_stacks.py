"""The workflows' rules about the stacks: every committed stack previewed, drift-checked and
deployed from main through its own environment, prod after dev, one deploy per stack at a time.
Each rule returns the problems it finds (test_workflows.py holds them on good and broken copies)."""

from __future__ import annotations

from pathlib import Path

from tests.workflows.workflows import (
    PULUMI_ACTION,
    ROOT,
    Operation,
    Workflow,
    action_of,
    committed_stacks,
    environment_of,
    operations,
    resolve,
    steps,
    upstream_jobs,
)

READ_ONLY = {"preview", "refresh"}


def _operations(workflows: dict[str, Workflow]) -> list[Operation]:
    return operations(workflows)


def _on(workflow: Workflow, event: str) -> bool:
    return event in workflow.triggers


def _push_branches(workflow: Workflow) -> list[str]:
    push = workflow.triggers.get("push")
    return [str(branch) for branch in push.get("branches") or []] if isinstance(push, dict) else []


def _versions(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


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
