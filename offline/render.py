"""`make render`: the stack's Kubernetes manifests, offline, validated, secrets redacted.

    python -m offline.render --stack dev [--config FILE] [--out DIR] [--no-checkov]

Exit codes: 0 rendered and valid; 1 a manifest failed schema validation or checkov reported a
failed check; 2 the stack config is invalid (nothing is written). checkov runs from its own
venv (build/tools/checkov-venv, created on first use by `python -m offline.checkov install`);
`--no-checkov` or NO_CHECKOV=1 skips it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from offline.engine import PROJECT_ROOT, StackRun, run_stack

# The Kubernetes versions the README declares supported: the three newest that the
# pinned kubernetes-validate ships schemas for.
SUPPORTED_KUBERNETES_VERSIONS = ("1.35", "1.36", "1.37")


def write_manifests(run: StackRun, out_dir: Path) -> list[Path]:
    """One YAML document per object, one file each, named by order, kind and name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.yaml"):
        stale.unlink()
    paths = []
    for index, manifest in enumerate(run.manifests(), start=1):
        path = out_dir / f"{index:02d}-{manifest['kind'].lower()}-{manifest['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))
        paths.append(path)
    return paths


def schema_errors(manifest: dict[str, Any], versions: tuple[str, ...] = SUPPORTED_KUBERNETES_VERSIONS) -> list[str]:
    """Strict upstream OpenAPI validation (unknown fields rejected) for every supported version."""
    import kubernetes_validate

    errors = []
    for version in versions:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = f"{manifest['kind']}/{manifest['metadata']['name']}"
            errors.append(f"{where} (Kubernetes {version}): {error.message} at {'.'.join(map(str, error.path))}")
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make render", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--config", type=Path, default=None, help="a stack config file instead of Pulumi.<stack>.yaml")
    parser.add_argument("--out", type=Path, default=None, help="default build/render/<stack>")
    parser.add_argument("--no-checkov", action="store_true", default=os.environ.get("NO_CHECKOV") == "1", help="skip the checkov scan")
    args = parser.parse_args(argv)

    from components.config import ConfigError

    started = time.perf_counter()
    try:
        run = run_stack(args.stack, config_file=args.config)
    except (ConfigError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started

    out_dir = args.out or PROJECT_ROOT / "build" / "render" / args.stack
    manifests = run.manifests()
    errors = [message for manifest in manifests for message in schema_errors(manifest)]
    write_manifests(run, out_dir)

    kinds = Counter(manifest["kind"] for manifest in manifests)
    print(f"stack {args.stack}: {len(manifests)} objects in {out_dir} (rendered in {elapsed:.2f}s)")
    for kind, count in sorted(kinds.items()):
        print(f"  {kind:<26} {count}")
    valid = len(manifests) - len({error.split(" ")[0] for error in errors})
    print(f"schema-valid (strict, Kubernetes {', '.join(SUPPORTED_KUBERNETES_VERSIONS)}): {valid}/{len(manifests)}")
    for message in errors:
        print(f"  invalid: {message}", file=sys.stderr)
    checkov_failed = 0 if args.no_checkov else _checkov(out_dir)
    return 1 if errors or checkov_failed else 0


def _checkov(out_dir: Path) -> int:
    """Print checkov's passed/failed/skipped over the written manifests; return the failed count."""
    from offline import checkov

    checkov.install()
    summary = checkov.scan_manifests(out_dir)
    print(summary.line())
    for finding in summary.failures:
        print(f"  failed: {finding.check_id} {finding.resource}", file=sys.stderr)
    for finding in summary.skips:
        print(f"  skipped: {finding.check_id} {finding.resource}: {finding.reason.strip()}")
    return summary.failed


if __name__ == "__main__":
    sys.exit(main())
