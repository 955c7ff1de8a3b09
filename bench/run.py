"""`app/.venv/bin/python bench/run.py [--smoke] [--only a,b]`: the Makefile's entry point.

Run as a script, Python puts bench/ itself first on sys.path; the package is imported from the
repository root instead, so no bench module is also importable under a second, top-level name.
"""

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
