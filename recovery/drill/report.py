"""The drill's report: report.json (every figure) and report.md (the table), written atomically into
a directory that holds nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPORT_FILES = ("report.json", "report.md")


def size(count: int) -> str:
    return f"{count / 2**20:,.1f} MiB" if count >= 2**20 else f"{count / 2**10:,.1f} KiB"


def duration(seconds: int) -> str:
    return f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def markdown(report: dict[str, Any]) -> str:
    if not report["ok"]:
        return f"# Backup drill: FAILED\n\n{report.get('error', 'unknown error')}\n"
    mysql, redis, sizes = report["mysql"], report["redis"], report["sizes"]

    def row(label: str, left: object, right: object) -> str:
        return f"| {label} | {left} | {right} |"

    def backups(key: str, label: str) -> list[str]:
        first, second = (server[key] for server in (mysql, redis))
        return [
            row(f"{label}: dump / snapshot", f"{first['dump_seconds']:.1f} s", f"{second['dump_seconds']:.1f} s"),
            row(f"{label}: restic", f"{first['restic_seconds']:.1f} s", f"{second['restic_seconds']:.1f} s"),
            row(f"{label}: total", f"{first['total_seconds']:.1f} s", f"{second['total_seconds']:.1f} s"),
            row(f"{label}: uploaded (restic data_added_packed)", size(first["data_added_packed"]), size(second["data_added_packed"])),
            row(f"{label}: bucket objects, change", f"{first['bucket_bytes_added']:+,} B", f"{second['bucket_bytes_added']:+,} B"),
        ]

    lines = [
        f"# Backup drill ({report['started_at']}, {report['wall_seconds']:.0f} s)",
        "",
        row("", "MySQL", "Redis"),
        row("---", "---:", "---:"),
        row("data", f"{sizes['items']:,} items", f"{sizes['keys']:,} keys"),
        row("snapshot file", size(mysql["first_backup"]["snapshot_bytes"]), size(redis["first_backup"]["snapshot_bytes"])),
        *backups("first_backup", "1st backup"),
        *backups("second_backup", "2nd backup, unchanged"),
        row("restore (RTO)", f"{mysql['restore']['restore_seconds']:.1f} s", f"{redis['restore']['total_seconds']:.1f} s"),
        row(
            "verified",
            f"{mysql['verify']['restored']['rows']:,} rows equal",
            f"{redis['verify']['restored_keys']:,} keys equal",
        ),
        "",
        "| stack | server | schedule (UTC) | RPO: interval | worst case (+ a backup run) |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for point in report["rpo"]:
        if point["backed_up"]:
            lines.append(
                f"| {point['stack']} | {point['server']} | `{point['schedule']}` | {duration(point['interval_seconds'])}"
                f" | {duration(point['interval_seconds'])} + {point['backup_run_seconds']} s |"
            )
        else:
            lines.append(f"| {point['stack']} | {point['server']} | not backed up | | |")
    lines += [
        "",
        f"The 1st MySQL restic run includes `restic init` (the job creates the repository on first use). Redis's restore"
        f" includes starting the server and loading the data ({redis['restore']['start_and_load_seconds']:.1f} s)."
        f" RTO excludes provisioning the servers (here MySQL's: {mysql['restore']['provision_seconds']:.1f} s),"
        " scaling the app down and up, and reaction time. Bucket change: the repository's object bytes after minus"
        " before the run (snapshot and index files included; `forget --prune` removes the older same-day snapshot)."
        f" Retention and Redis persistence from Pulumi.{report['settings']['stack']}.yaml.",
        "",
    ]
    return "\n".join(lines)


def prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is not a directory")
    if out.is_dir():
        foreign = sorted(path.name for path in out.iterdir() if path.name not in REPORT_FILES)
        if foreign:
            raise ValueError(f"{out} holds files the drill did not write ({', '.join(foreign[:5])}): give an empty directory")
    out.mkdir(parents=True, exist_ok=True)


def write_report(out: Path, report: dict[str, Any]) -> str:
    table = markdown(report)
    for name, text in (("report.json", json.dumps(report, indent=2) + "\n"), ("report.md", table)):
        partial = out / f".{name}.partial"
        partial.write_text(text)
        partial.replace(out / name)
    return table
