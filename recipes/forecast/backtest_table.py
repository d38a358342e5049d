"""Mean +- std over seeds of backtest folders named VARIANT-seedN: one markdown row per variant and model.

Usage: python recipes/forecast/backtest_table.py runs/dominicks/ablation/*
"""

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

METRICS = ("mae", "wape", "rmsle", "mase", "smape")


def main(folders: list[str]) -> None:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for folder in folders:
        path = Path(folder) / "metrics.json"
        if not path.is_file():
            print(f"{folder}: no metrics.json (unfinished?)", file=sys.stderr)
            continue
        variant = re.sub(r"-seed\d+$", "", Path(folder).name)
        for model, entry in json.loads(path.read_text())["table"].items():
            groups[(variant, model)].append({**entry["mean"], "seconds": entry["seconds"]})
    print("| variant | model | seeds | " + " | ".join(m.upper() for m in METRICS) + " | seconds |")
    print("|---|---|---|" + "---|" * (len(METRICS) + 1))
    for (variant, model), runs in sorted(groups.items(), key=lambda item: np.mean([r["mae"] for r in item[1]])):
        cells = []
        for metric in METRICS + ("seconds",):
            values = np.array([np.nan if r[metric] is None else r[metric] for r in runs], np.float64)
            digits = 1 if metric in ("mae", "smape", "seconds") else 4
            cells.append(f"{np.nanmean(values):.{digits}f} ± {np.nanstd(values):.{digits}f}")
        print(f"| {variant} | {model} | {len(runs)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
