"""`make render`: the stack's Kubernetes objects, offline, validated, secrets redacted.

    python -m offline.render --stack dev [--config FILE] [--out DIR] [--no-checkov]

Exit codes: 0 rendered and valid; 1 an object failed schema validation or checkov; 2 bad
input (stack name, stack file, config, output directory): nothing is written. The output
directory is one this tool owns (see offline/render_dir.py); gate results are reused while
their inputs are unchanged (offline/gates/cache.py). Custom resources are checked against their CRDs (offline/gates/crds.py,
fetched on first use by scripts/crds/fetch.sh). checkov runs from its own venv
(build/tools/checkov-venv, created on first use); `--no-checkov` or NO_CHECKOV=1 skips it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from offline import render_dir
from offline.paths import PROJECT_ROOT

if TYPE_CHECKING:
    from components.config import ConfigError

# A Pulumi stack name: letters, digits, '-', '_', '.'; never a path.
STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class Phases:
    """Says what runs before it runs, and how long it took."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def begin(self, what: str) -> float:
        print(f"  {what} ...", end="", flush=True)
        return time.perf_counter()

    def end(self, began: float, note: str = "") -> None:
        print(f" {time.perf_counter() - began:.2f}s{f' ({note})' if note else ''}", flush=True)

    def total(self) -> float:
        return time.perf_counter() - self.started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make render", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--config", type=Path, default=None, help="a stack config file instead of Pulumi.<stack>.yaml")
    parser.add_argument("--out", type=Path, default=None, help="default build/render/<stack>")
    parser.add_argument("--no-checkov", action="store_true", default=os.environ.get("NO_CHECKOV") == "1", help="skip the checkov scan")
    args = parser.parse_args(argv)
    phases = Phases()

    if not STACK_NAME.match(args.stack):
        print(f"error: {args.stack!r} is not a stack name (letters, digits, '-', '_', '.'; e.g. dev, prod)", file=sys.stderr)
        return 2
    out_dir = args.out or PROJECT_ROOT / "build" / "render" / args.stack
    try:
        render_dir.check_owned(out_dir)
    except render_dir.RenderDirError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"render: stack {args.stack} -> {out_dir}", flush=True)

    began = phases.begin("config and program (offline engine)")
    program = _run_program(args.stack, args.config)
    if program is None:
        return 2
    manifests, assumed_secrets = program
    phases.end(began, f"{len(manifests)} objects")
    for key in assumed_secrets:
        print(f"  note: {key} is not set; a placeholder stands in (set it with 'pulumi config set --secret {key}' before pulumi up)")

    began = phases.begin("write")
    ordered = render_dir.ordered(manifests)
    render_dir.write(out_dir, ordered)
    phases.end(began)

    began = phases.begin("schemas (strict, Kubernetes " + ", ".join(_supported()) + ")")
    from offline.gates import crds, schemas

    try:
        errors, reused = schemas.check(ordered)
    except crds.CrdFetchError as error:  # the CRD schemas could not be fetched: say why, no traceback
        print(f"\nrender: {error}", file=sys.stderr)
        return 2
    phases.end(began, f"{reused}/{len(ordered)} from cache")
    for note in schemas.live_only(ordered):
        print(f"  note: {note}")
    checkov_failed = 0 if args.no_checkov else _checkov(out_dir, phases)

    kinds = Counter(manifest["kind"] for manifest in ordered)
    print(f"stack {args.stack}: {len(ordered)} objects in {out_dir} ({phases.total():.2f}s)")
    for kind, count in sorted(kinds.items()):
        print(f"  {kind:<26} {count}")
    invalid = {error.split(" ")[0] for error in errors}
    print(f"schema-valid: {len(ordered) - len(invalid)}/{len(ordered)}")
    for message in errors:
        print(f"  invalid: {message}", file=sys.stderr)
    return 1 if errors or checkov_failed else 0


def _supported() -> tuple[str, ...]:
    from offline.gates.schemas import SUPPORTED_KUBERNETES_VERSIONS

    return SUPPORTED_KUBERNETES_VERSIONS


def _run_program(stack: str, config_file: Path | None) -> tuple[list[dict[str, object]], list[str]] | None:
    """The objects the program declares and the secrets it assumed, or None after printing why
    the config is refused."""
    from components.config import ConfigError
    from offline import stack_file
    from offline.engine import run_stack

    path = config_file or PROJECT_ROOT / f"Pulumi.{stack}.yaml"
    try:
        run = run_stack(stack, config_file=config_file)
    except stack_file.StackFileError as error:
        print(f"\nerror: {error}", file=sys.stderr)
        return None
    except ConfigError as error:
        print(f"\nerror: {_located(error, path)}", file=sys.stderr)
        return None
    return run.manifests(), list(run.assumed_secrets)


def _located(error: ConfigError, path: Path) -> str:
    """The config error, each problem prefixed with the file and line it concerns."""
    from offline import stack_file

    try:
        lines = stack_file.read(path)
    except stack_file.StackFileError:
        return str(error)
    count = len(error.problems)
    text = [f"invalid config for stack '{error.stack}' ({count} problem{'s' * (count != 1)}):"]
    located = sorted(error.problems, key=lambda problem: lines.line_of(problem.key) or 10**9)
    for problem in located:
        line = lines.line_of(problem.key)
        where = f"{path.name}:{line}: " if line else ""
        text.append(f"  - {where}{problem.key}: {problem.reason}")
    return "\n".join(text)


def _checkov(out_dir: Path, phases: Phases) -> int:
    """Print checkov's passed/failed/skipped over the written objects; return the failed count."""
    from offline.gates import checkov

    if not checkov.installed():
        began = phases.begin("checkov: installing its venv (first run only)")
        checkov.install()
        phases.end(began)
    began = phases.begin(f"checkov {checkov.CHECKOV_VERSION}")
    summary, reused = checkov.scan_manifests_cached(out_dir)
    phases.end(began, "from cache" if reused else "")
    print(summary.line())
    for finding in summary.failures:
        print(f"  failed: {finding.check_id} {finding.resource}", file=sys.stderr)
    for finding in summary.skips:
        print(f"  skipped: {finding.check_id} {finding.resource}: {finding.reason.strip()}")
    return summary.failed


if __name__ == "__main__":
    sys.exit(main())
