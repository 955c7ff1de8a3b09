"""`python -m recovery.drill`: the backup/restore drill, run small against the real servers, and its
reading of the committed stacks' schedules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from components.config import backed_up
from offline.paths import PROJECT_ROOT
from tests.support.stacks import STACKS, committed_config
from testservers.restic import restic_binary
from testservers.s3 import seaweedfs_binary

# Cold: the S3 server ~12 s, three MariaDB and two Redis servers, four restic runs; ~45 s here.
DRILL_TIMEOUT_SECONDS = 300


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recovery.drill", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=DRILL_TIMEOUT_SECONDS,
        check=False,
    )


@pytest.fixture(scope="module")
def small_drill(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The drill at 500 items and 500 keys: its report.json."""
    restic_binary()
    seaweedfs_binary()  # built (or found cached) before the drill's clock starts
    out = tmp_path_factory.mktemp("drill")
    done = _run("--items", "500", "--keys", "500", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(path.name for path in out.iterdir()) == ["report.json", "report.md"]
    assert "500 rows equal" in (out / "report.md").read_text()
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def test_drill_restores_every_row_and_key(small_drill: dict[str, Any]) -> None:
    mysql, redis = small_drill["mysql"], small_drill["redis"]
    assert small_drill["ok"] is True
    assert mysql["verify"]["equal"] is True
    assert mysql["verify"]["restored"]["rows"] == 500
    assert mysql["verify"]["restored"] == mysql["verify"]["source"]
    assert redis["verify"]["equal"] is True
    assert redis["verify"]["restored_keys"] == redis["verify"]["source_keys"] == 500


def test_drill_measures_times_and_bytes(small_drill: dict[str, Any]) -> None:
    for server in ("mysql", "redis"):
        for run in ("first_backup", "second_backup"):
            figures = small_drill[server][run]
            assert figures["snapshot_bytes"] > 0
            assert figures["restic_seconds"] > 0
            assert figures["total_seconds"] >= figures["restic_seconds"]
            assert figures["data_added_packed"] > 0
            assert figures["bucket_bytes_added"] > 0
    assert small_drill["rto"]["mysql_seconds"] > 0
    assert small_drill["rto"]["redis_seconds"] > 0
    assert small_drill["wall_seconds"] > 0


def test_second_backup_of_an_unchanged_database_uploads_less(small_drill: dict[str, Any]) -> None:
    mysql = small_drill["mysql"]
    # The dump is byte-identical: only the new snapshot's tree metadata is uploaded. (A small RDB
    # is one restic chunk, new each time; Redis's deduplication is tested on a large one in
    # tests/components/data/backup/test_commands.py.)
    assert mysql["second_backup"]["data_added_packed"] < mysql["first_backup"]["data_added_packed"]


def test_drill_reports_the_committed_schedules_as_rpo(small_drill: dict[str, Any]) -> None:
    expected = {}
    for stack in STACKS:
        config = committed_config(stack)
        for server in backed_up(config):
            expected[(stack, server)] = getattr(config, server).backup.schedule
    reported = {(point["stack"], point["server"]): point["schedule"] for point in small_drill["rpo"] if point["backed_up"]}
    assert reported == expected
    assert all(point["interval_seconds"] > 0 for point in small_drill["rpo"] if point["backed_up"])


def test_drill_refuses_an_out_directory_holding_other_files(tmp_path: Path) -> None:
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")

    refused = _run("--items", "1", "--keys", "1", "--out", str(tmp_path))

    assert refused.returncode == 2
    assert "holds files the drill did not write (notes.txt)" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]
    assert keep.read_text() == "mine"
