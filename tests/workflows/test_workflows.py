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

from tests.workflows.rules_hygiene import (
    checkout_never_persists_credentials,
    every_action_is_pinned_to_a_commit_with_its_tag,
    every_input_a_user_sets_is_documented,
    every_job_has_a_timeout,
    no_expression_is_interpolated_into_a_script,
    no_secret_is_written_in_a_workflow,
    no_workflow_grants_write_at_the_top_level,
)
from tests.workflows.rules_stacks import (
    deploys_are_serialised_per_stack,
    each_deploy_job_runs_in_its_stacks_environment,
    every_committed_stack_is_deployed_from_main,
    every_committed_stack_is_drift_checked,
    every_committed_stack_is_previewed_on_pull_requests,
    every_stack_name_has_its_stack_file,
    production_deploys_after_dev,
    project_ci_runs_on_push_and_pull_request,
    pulumi_cli_is_the_projects_version,
    read_only_jobs_never_use_a_deploy_environment,
)
from tests.workflows.workflows import (
    WORKFLOWS,
    Workflow,
    committed_stacks,
    load,
)

Rule = Callable[[dict[str, Workflow]], list[str]]

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
