"""Training-curve PNGs from metrics.jsonl (people look at curves rather than read numbers)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from dlcli.files import atomic_path


def read_metrics(path: str | Path) -> list[dict]:
    records = []
    path = Path(path)
    if not path.exists():
        return records
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a crash
    return records


NOT_CURVES = ("event", "epoch", "step", "time", "lr", "seconds", "best")  # bookkeeping, not metrics


def curve_families(records: list[dict]) -> dict[str, dict[str, tuple[list, list]]]:
    """Metric family (loss, accuracy, ...) -> series name -> (steps, values).

    Flags (``best``, booleans) are not curves: a 0/1 panel says nothing a reader can use.
    """
    epochs = [r for r in records if r.get("event") == "epoch"]
    steps = [r for r in records if r.get("event") == "train"]
    families: dict[str, dict[str, tuple[list, list]]] = defaultdict(dict)
    for record_set, x_key in ((steps, "step"), (epochs, "step")):
        for record in record_set:
            for key, value in record.items():
                if key in NOT_CURVES or isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                name = key if record_set is epochs else f"step_{key}"
                family = key.removeprefix("train_").removeprefix("val_")
                xs, ys = families[family].setdefault(name, ([], []))
                xs.append(record[x_key])
                ys.append(value)
    return families


def plot_training_curves(metrics_path: str | Path, output: str | Path, title: str = "") -> Path | None:
    """One panel per metric family (loss, accuracy, ...): per-step train records and per-epoch validation.

    The x axis counts optimizer steps; epoch ends are marked on a second axis above, so
    per-epoch points are read as epochs, not as steps.
    """
    records = read_metrics(metrics_path)
    epochs = [r for r in records if r.get("event") == "epoch"]
    steps = [r for r in records if r.get("event") == "train"]
    if not epochs and not steps:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = curve_families(records)
    epoch_ends = [(r["step"], r["epoch"]) for r in epochs if "step" in r and "epoch" in r]
    lr = [(r["step"], r["lr"]) for r in steps if "lr" in r]
    panels = sorted(families) + (["learning rate"] if lr else [])
    columns = min(3, len(panels))
    rows = (len(panels) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.4 * rows), squeeze=False)
    for axis, panel in zip(axes.flat, panels):
        if panel == "learning rate":
            axis.plot(*zip(*lr), color="gray")
            axis.set_yscale("log")
        else:
            for name, (xs, ys) in sorted(families[panel].items()):
                style = dict(alpha=0.35, linewidth=0.8) if name.startswith("step_") else dict(marker="o", markersize=3)
                axis.plot(
                    xs, ys, label=name.removeprefix("step_") + (" (steps)" if name.startswith("step_") else ""), **style
                )
            axis.legend(fontsize=7)
        axis.set_title(panel)
        axis.set_xlabel("optimizer step")
        axis.grid(alpha=0.3)
        if epoch_ends:
            top = axis.secondary_xaxis("top")
            shown = epoch_ends[:: max(1, len(epoch_ends) // 8)]  # at most about 8 epoch labels
            top.set_xticks([s for s, _ in shown], labels=[str(e) for _, e in shown], fontsize=7)
            top.set_xlabel("end of epoch", fontsize=7)
    for axis in list(axes.flat)[len(panels) :]:
        axis.axis("off")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(output) as temporary:
        figure.savefig(temporary, dpi=110, format="png")
    plt.close(figure)
    return Path(output)
