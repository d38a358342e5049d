"""The ablation table of docs/BENCHMARKS.md: RMSLE per variant, mean ± std over seeds, beside the paper.

Usage: python recipes/forecast/ablation_table.py EVALUATION_DIR [EVALUATION_DIR ...]
(one `dlcli forecast evaluate` output folder per seed, e.g. runs/ablations*/evaluation-all)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

# The dissertation's RMSLE on the real data (test periods 1/2/3, or one figure where it gives one).
PAPER = {
    "history-200": "0.5381 / 0.5413 / 0.5423",
    "history-75": "0.5372",
    "history-10": "0.5452",
    "history-1": "0.5812",
    "history-0": "0.8411",
    "no-trick": "0.6077 / 0.5895 / 0.5929",
}
LABEL = {
    "history-200": "history 200 (trick on)",
    "history-75": "history 75 (trick on; the reference for the rows below)",
    "history-10": "history 10",
    "history-1": "history 1",
    "history-0": "history 0 (static inputs only)",
    "no-trick": "history 75, **no random max time step**",
    "no-decoder-inputs": "history 75, no decoder inputs (reference decoder)",
    "no-normalize": "history 75, no level normalisation (reference)",
}


def main(folders: list[str]) -> None:
    missing = [f for f in folders if not (Path(f) / "metrics.json").is_file()]
    if missing:
        sys.exit(f"error: {missing[0]}: no metrics.json (not a `dlcli forecast evaluate` output folder)")
    tables = [json.loads((Path(f) / "metrics.json").read_text())["table"] for f in folders]
    oracle = np.mean([t["oracle"]["mean"]["rmsle"] for t in tables if "oracle" in t]) if tables else None
    print(f"| variant | P1 | P2 | P3 | mean RMSLE ({len(tables)} seeds) | gap to oracle | paper (real data) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name in LABEL:  # rows in this order
        runs = [t[name] for t in tables if name in t]
        if not runs:
            continue
        periods = np.array([[p["rmsle"] for p in r["periods"]] for r in runs])  # (seeds, periods)
        means = periods.mean(axis=1)
        cells = [f"{v:.4f}" for v in periods.mean(axis=0)]
        spread = f" ± {means.std(ddof=1):.4f}" if len(means) > 1 else ""
        gap = f"{means.mean() - oracle:+.4f}" if oracle is not None else "-"
        print(f"| {LABEL[name]} | {' | '.join(cells)} | {means.mean():.4f}{spread} | {gap} | {PAPER.get(name, '-')} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
