"""Where the bench finds the repository's parts and writes its outputs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"
BENCH = ROOT / "bench"
OUT = ROOT / "build" / "bench"
README = ROOT / "README.md"

# The service runs on the app's interpreter; the offline tooling and the plots each have their own.
APP_PYTHON = APP / ".venv" / "bin" / "python"
INFRA_PYTHON = ROOT / ".venv" / "bin" / "python"
UV = ROOT / ".venv" / "bin" / "uv"
PLOT_VENV = ROOT / "build" / "bench-venv"
