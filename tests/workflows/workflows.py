"""The GitHub workflows read as data: files, jobs, steps, and the Pulumi operations they run."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
PULUMI_ACTION = "pulumi/actions"
CHECKOUT_ACTION = "actions/checkout"
MATRIX_STACK = re.compile(r"\$\{\{\s*matrix\.stack\s*\}\}")
# A `pulumi <command>` invocation in a run script; the flags are read from the rest of the line.
PULUMI_COMMAND = re.compile(r"(?:^|[\s;&|(])pulumi\s+(preview|up|refresh|destroy)\b(.*)$", re.MULTILINE)

Mapping = dict[Any, Any]  # YAML: `on` reads as the key True


@dataclass(frozen=True)
class Workflow:
    file: str  # e.g. "deploy.yml"
    text: str
    doc: Mapping

    @property
    def triggers(self) -> Mapping:
        # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
        on = self.doc.get("on", self.doc.get(True))
        if isinstance(on, str):
            return {on: None}
        if isinstance(on, list):
            return dict.fromkeys(on)
        return on if isinstance(on, dict) else {}

    @property
    def jobs(self) -> dict[str, Mapping]:
        jobs = self.doc.get("jobs")
        return jobs if isinstance(jobs, dict) else {}


@dataclass(frozen=True)
class Operation:
    """One Pulumi operation a job runs: through pulumi/actions or a `pulumi ...` run line."""

    workflow: Workflow
    job_id: str
    stack: str  # resolved from the job's matrix; an unresolvable expression stays as written
    command: str
    refresh: bool
    expect_no_changes: bool

    @property
    def job(self) -> Mapping:
        return self.workflow.jobs[self.job_id]

    @property
    def where(self) -> str:
        return f"{self.workflow.file}: job {self.job_id}"


def load(directory: Path = WORKFLOWS) -> dict[str, Workflow]:
    """Every workflow file of `directory`, by file name."""
    files = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])
    workflows = {}
    for path in files:
        text = path.read_text()
        doc = yaml.safe_load(text)
        workflows[path.name] = Workflow(path.name, text, doc if isinstance(doc, dict) else {})
    return workflows


def committed_stacks(root: Path = ROOT) -> dict[str, Mapping]:
    """The stacks committed as Pulumi.<stack>.yaml, with their config."""
    stacks = {}
    for path in sorted(root.glob("Pulumi.*.yaml")):
        doc = yaml.safe_load(path.read_text()) or {}
        stacks[path.name.removeprefix("Pulumi.").removesuffix(".yaml")] = doc.get("config") or {}
    return stacks


def steps(job: Mapping) -> list[Mapping]:
    return [step for step in job.get("steps") or [] if isinstance(step, dict)]


def action_of(step: Mapping) -> str:
    """`owner/repo[/path]` of a step's `uses:`, without the ref ("" for a run step)."""
    return str(step.get("uses", "")).split("@", 1)[0]


def matrix_stacks(job: Mapping) -> list[str]:
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    stacks = [str(stack) for stack in matrix.get("stack") or []]
    stacks += [str(entry["stack"]) for entry in matrix.get("include") or [] if isinstance(entry, dict) and "stack" in entry]
    return list(dict.fromkeys(stacks))


def resolve(value: object, job: Mapping) -> list[str]:
    """A value per matrix stack: `${{ matrix.stack }}` expanded over the job's matrix."""
    text = str(value)
    if MATRIX_STACK.search(text):
        return [MATRIX_STACK.sub(stack, text) for stack in matrix_stacks(job)] or [text]
    return [text]


def operations(workflows: dict[str, Workflow]) -> list[Operation]:
    found = []
    for workflow in workflows.values():
        for job_id, job in workflow.jobs.items():
            for step in steps(job):
                with_ = step.get("with") or {}
                if action_of(step) == PULUMI_ACTION and with_.get("command"):
                    for stack in resolve(with_.get("stack-name", ""), job):
                        found.append(
                            Operation(
                                workflow,
                                job_id,
                                stack,
                                str(with_["command"]),
                                refresh=_true(with_.get("refresh")),
                                expect_no_changes=_true(with_.get("expect-no-changes")),
                            )
                        )
                for match in PULUMI_COMMAND.finditer(str(step.get("run", ""))):
                    command, rest = match.group(1), _continued(str(step["run"]), match)
                    words = shlex.split(rest.replace("\\\n", " "), comments=True)
                    stack_value = _flag_value(words, "--stack", "-s") or ""
                    if stack_value.startswith("$"):
                        stack_value = str((step.get("env") or {}).get(stack_value.strip("${}"), stack_value))
                    for stack in resolve(stack_value, job):
                        found.append(
                            Operation(
                                workflow,
                                job_id,
                                stack,
                                command,
                                refresh="--refresh" in words or "-r" in words,
                                expect_no_changes="--expect-no-changes" in words,
                            )
                        )
    return found


def environment_of(job: Mapping) -> str | None:
    environment = job.get("environment")
    if isinstance(environment, dict):
        environment = environment.get("name")
    return None if environment is None else str(environment)


def needs_of(job: Mapping) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else [str(need) for need in needs]


def upstream_jobs(workflow: Workflow, job_id: str) -> set[str]:
    """Every job `job_id` runs after, directly or through others."""
    seen: set[str] = set()
    todo = needs_of(workflow.jobs[job_id])
    while todo:
        need = todo.pop()
        if need not in seen and need in workflow.jobs:
            seen.add(need)
            todo += needs_of(workflow.jobs[need])
    return seen


def line_of(workflow: Workflow, needle: str) -> int:
    for number, line in enumerate(workflow.text.splitlines(), start=1):
        if needle in line:
            return number
    return 0


def _true(value: object) -> bool:
    return str(value).lower() == "true"


def _continued(script: str, match: re.Match[str]) -> str:
    """The command's arguments, following backslash-continued lines."""
    rest, tail = match.group(2), script[match.end() :]
    while rest.rstrip().endswith("\\") and tail:
        line, _, tail = tail.lstrip("\n").partition("\n")
        rest = rest.rstrip()[:-1] + " " + line
    return rest.split("|", 1)[0]


def _flag_value(words: list[str], *names: str) -> str | None:
    for index, word in enumerate(words):
        for name in names:
            if word == name and index + 1 < len(words):
                return words[index + 1]
            if word.startswith(name + "="):
                return word.split("=", 1)[1]
    return None
