"""Reading Prometheus' text format, as a scraper would."""

from __future__ import annotations


def sample(text: str, name: str, **labels: str) -> float:
    """The value of metric `name` with (at least) `labels`; 0 when there is none."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
