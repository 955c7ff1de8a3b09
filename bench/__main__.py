"""`python -m bench [--smoke] [--only a,b]` from the repository root, with the app's interpreter."""

import sys

from bench.cli import main

sys.exit(main())
