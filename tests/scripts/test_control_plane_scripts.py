"""scripts/control-plane/up.sh resets its run directory on every start: it must own that directory,
so a directory holding anything it did not write is refused before a file is touched."""

from __future__ import annotations

import subprocess
from pathlib import Path

from offline.paths import PROJECT_ROOT

UP = PROJECT_ROOT / "scripts" / "control-plane" / "up.sh"


def test_a_run_directory_holding_foreign_files_is_refused_and_left_untouched(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "home").mkdir(parents=True)
    foreign = {run_dir / "admin.kubeconfig": "someone's kubeconfig", run_dir / "home" / "notes.txt": "keep me"}
    for path, text in foreign.items():
        path.write_text(text)

    result = subprocess.run([str(UP), str(run_dir)], capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 2
    assert f"{run_dir} holds files up.sh did not write" in result.stderr
    assert result.stdout == ""
    assert {path: path.read_text() for path in foreign} == foreign
    assert sorted(path.name for path in run_dir.iterdir()) == ["admin.kubeconfig", "home"]
