"""`make bench` / `make bench-smoke`: what users feel, next to a baseline measured in the same run.

harness/ runs the system under test, load/ drives it, scenarios/ holds one module per scenario,
targets/ the thresholds (judged in results.md, rendered into README.md), report/ the outputs.
Nothing is imported here, so `python -m bench.targets` needs only the standard library.
"""
