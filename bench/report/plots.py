"""The PNG plots: draw_plots.py run in build/bench-venv, a venv of its own (created on demand with
the repo's uv) so matplotlib stays out of the app's lock."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.paths import PLOT_VENV, UV

DRAW = Path(__file__).with_name("draw_plots.py")
STDERR_KEPT = 500
VENV_TIMEOUT_S = 120
INSTALL_TIMEOUT_S = 300
DRAW_TIMEOUT_S = 120
PROBE_TIMEOUT_S = 60


class PlotError(RuntimeError):
    """draw_plots.py ran and failed: the bench fails."""


def plots(results_json: Path, out_dir: Path) -> str:
    """The plots' status for results.json: ok, or why there are none (matplotlib could not be installed:
    no network). PlotError when the drawing itself fails."""
    py = PLOT_VENV / "bin" / "python"
    try:
        if not _has_matplotlib(py):
            if not py.exists():
                subprocess.run([str(UV), "venv", "-q", str(PLOT_VENV)], check=True, timeout=VENV_TIMEOUT_S, capture_output=True)
            install = [str(UV), "pip", "install", "-q", "--python", str(py), "matplotlib"]
            subprocess.run(install, check=True, timeout=INSTALL_TIMEOUT_S, capture_output=True)
    except (subprocess.SubprocessError, OSError) as exc:
        return f"plots skipped (matplotlib not installable here): {type(exc).__name__}: {exc}"
    draw = [str(py), str(DRAW), str(results_json), str(out_dir)]
    try:
        res = subprocess.run(draw, check=False, capture_output=True, text=True, timeout=DRAW_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise PlotError(f"draw_plots.py: no exit within {DRAW_TIMEOUT_S} s") from exc
    if res.returncode != 0:
        raise PlotError(f"draw_plots.py exit {res.returncode}: {res.stderr[-STDERR_KEPT:]}")
    return "ok"


def _has_matplotlib(py: Path) -> bool:
    if not py.exists():
        return False
    probe = subprocess.run([str(py), "-c", "import matplotlib"], check=False, capture_output=True, timeout=PROBE_TIMEOUT_S)
    return probe.returncode == 0
