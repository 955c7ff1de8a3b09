"""checkov in its own virtualenv (its dependencies conflict with Pulumi's), found or created on demand.

    python -m offline.gates.checkov install     # create build/tools/checkov-venv with the pinned checkov
    python -m offline.gates.checkov scan DIR    # scan rendered manifests, print the summary

The venv lives under build/ (a cache: `make clean` removes it); `install` uses `.venv/bin/uv`
when present (much faster than pip).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from offline.gates import cache as gate_cache
from offline.paths import PROJECT_ROOT

CHECKOV_VERSION = "3.3.30"
CHECKOV_VENV = PROJECT_ROOT / "build" / "tools" / "checkov-venv"
CHECKOV_BIN = CHECKOV_VENV / "bin" / "checkov"
DOCKERFILE = PROJECT_ROOT / "app" / "Dockerfile"
# Offline and quiet: no call home for the guideline mappings, no version check.
_ENV = {"BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "SKIP_CHECKOV_VERSION_CHECK": "true"}


@dataclass(frozen=True)
class Finding:
    check_id: str
    resource: str
    file: str
    reason: str = ""


@dataclass
class Summary:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    resource_count: int = 0
    failures: list[Finding] = field(default_factory=list)
    skips: list[Finding] = field(default_factory=list)

    def line(self) -> str:
        return f"checkov: passed {self.passed}, failed {self.failed}, skipped {self.skipped}"


def installed() -> bool:
    return CHECKOV_BIN.is_file()


def install() -> Path:
    """Create the checkov venv if missing; return the checkov executable."""
    if installed():
        return CHECKOV_BIN
    CHECKOV_VENV.parent.mkdir(parents=True, exist_ok=True)
    venv.create(CHECKOV_VENV, with_pip=True)
    python = CHECKOV_VENV / "bin" / "python"
    uv = PROJECT_ROOT / ".venv" / "bin" / "uv"
    requirement = f"checkov=={CHECKOV_VERSION}"
    if uv.is_file():
        subprocess.run([str(uv), "pip", "install", "--quiet", "--python", str(python), requirement], check=True)
    else:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", requirement], check=True)
    return CHECKOV_BIN


def _run(args: list[str]) -> Summary:
    completed = subprocess.run(
        [str(CHECKOV_BIN), *args, "-o", "json"],
        capture_output=True,
        text=True,
        env={**os.environ, **_ENV},
        check=False,
    )
    if completed.returncode not in (0, 1):
        raise RuntimeError(f"checkov exited {completed.returncode}: {completed.stderr[-2000:]}")
    document: Any = json.loads(completed.stdout) if completed.stdout.strip() else []
    reports = document if isinstance(document, list) else [document]
    summary = Summary()
    for report in reports:
        counts = report.get("summary", {})
        summary.passed += counts.get("passed", 0)
        summary.failed += counts.get("failed", 0)
        summary.skipped += counts.get("skipped", 0)
        summary.resource_count += counts.get("resource_count", 0)
        results = report.get("results", {})
        for check in results.get("failed_checks", []):
            summary.failures.append(Finding(check["check_id"], check["resource"], check.get("file_path", "")))
        for check in results.get("skipped_checks", []):
            reason = (check.get("check_result") or {}).get("suppress_comment", "")
            summary.skips.append(Finding(check["check_id"], check["resource"], check.get("file_path", ""), reason))
    return summary


def scan_manifests(directory: Path) -> Summary:
    return _run(["-d", str(directory), "--framework", "kubernetes"])


def scan_manifests_cached(directory: Path) -> tuple[Summary, bool]:
    """The scan, reused when the same files were scanned by the same checkov (keyed by content)."""
    digest = gate_cache.key(f"checkov {CHECKOV_VERSION}", gate_cache.sources(directory.glob("*.yaml")))
    cached = gate_cache.get("checkov", digest)
    if cached is not None:
        return _summary_from(cached), True
    summary = scan_manifests(directory)
    gate_cache.put("checkov", digest, asdict(summary))
    return summary, False


def _summary_from(data: dict[str, Any]) -> Summary:
    failures = [Finding(**finding) for finding in data.pop("failures")]
    skips = [Finding(**finding) for finding in data.pop("skips")]
    return Summary(**data, failures=failures, skips=skips)


def scan_dockerfile(path: Path = DOCKERFILE) -> Summary:
    """checkov only scans files named Dockerfile/*.Dockerfile/Dockerfile.*: resource_count guards that."""
    summary = _run(["-f", str(path), "--framework", "dockerfile"])
    if summary.resource_count == 0:
        raise RuntimeError(f"checkov scanned nothing in {path}: is it named Dockerfile?")
    return summary


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["install"]:
        print(install())
        return 0
    if args[:1] == ["scan"] and len(args) == 2:
        install()
        target = Path(args[1])
        summary = scan_dockerfile(target) if target.is_file() else scan_manifests(target)
        print(summary.line())
        for finding in summary.failures:
            print(f"  failed: {finding.check_id} {finding.resource} ({finding.file})")
        for finding in summary.skips:
            print(f"  skipped: {finding.check_id} {finding.resource}: {finding.reason}")
        return 1 if summary.failed else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
