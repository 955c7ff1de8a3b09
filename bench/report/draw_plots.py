"""PNG plots from build/bench/results.json: `python draw_plots.py RESULTS_JSON OUT_DIR`.

Run by bench/report/plots.py in build/bench-venv (matplotlib), not the app's env, so it imports
nothing from the bench package.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main(results_path: str, out_dir: str) -> None:
    r = json.loads(Path(results_path).read_text())
    out = Path(out_dir)
    tp = r.get("throughput")
    if tp:
        names = list(tp["summary"])
        conns = [str(c) for c in tp["connections"]]
        for metric, label, fname in (
            ("rps", "requests/s", "throughput.png"),
            ("p50_ms", "p50 latency (ms)", "latency_p50.png"),
            ("p99_ms", "p99 latency (ms)", "latency_p99.png"),
        ):
            fig, ax = plt.subplots(figsize=(8, 4.5))
            width = 0.8 / len(names)
            for i, name in enumerate(names):
                vals = [tp["summary"][name][c][metric] for c in conns]
                ax.bar([j + i * width for j in range(len(conns))], vals, width, label=name)
            ax.set_xticks([j + 0.4 - width / 2 for j in range(len(conns))], [f"c={c}" for c in conns])
            ax.set_ylabel(label)
            ax.set_title(f"{label} ({'smoke' if r['smoke'] else 'full'}, median of {tp['repetitions']})")
            ax.legend(fontsize=8)
            fig.tight_layout()
            fig.savefig(out / fname, dpi=100)
            plt.close(fig)
    ot = {k: v for k, v in (r.get("offline") or {}).items() if isinstance(v, dict)}
    extra = {f"cold start{' (median)' if not r['smoke'] else ''}": (r.get("cold_start") or {}).get("median_s")}
    seconds = {**{k: v["seconds"] for k, v in ot.items()}, **{k: v for k, v in extra.items() if v is not None}}
    if seconds:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.barh(list(seconds), list(seconds.values()))
        ax.set_xlabel("seconds")
        ax.set_title("cold start and offline steps")
        fig.tight_layout()
        fig.savefig(out / "timings.png", dpi=100)
        plt.close(fig)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
