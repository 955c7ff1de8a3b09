"""Where the repository and its build outputs are, for the tools and the tests (no Pulumi imported)."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = PROJECT_ROOT / "build"
