"""The distillation report in the form of the paper's Table 4.2, and a plot of the dev curves."""

from __future__ import annotations

import statistics
from pathlib import Path

from dlcli.distill.blend import CONTROLS
from dlcli.files import atomic_path, write_text_atomic


def _cell(values: list[float]) -> str:
    values = [100 * v for v in values]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}"


def summary_rows(report: dict) -> list[dict]:
    """Per blend method: accuracies over seeds and the gain over the original student."""
    student = next(m for m in report["models"] if m["role"] == "student")
    split = "test" if student["test"] else "dev"
    before = student[split]["top1"]
    rows = []
    methods = list(dict.fromkeys(run["blend"] for run in report["runs"]))
    for method in methods:
        runs = [r for r in report["runs"] if r["blend"] == method]
        top1 = [r[split]["top1"] for r in runs]
        rows.append(
            {
                "blend": method,
                "control": method in CONTROLS,
                "split": split,
                "top1": top1,
                "top5": [r[split]["top5"] for r in runs],
                "gain": [t - before for t in top1],
                "best_epoch": [r["best_epoch"] for r in runs],
            }
        )
    return rows


def short_names(paths: list[str]) -> list[str]:
    """The fewest trailing path parts that tell the files apart (``teacher-a/best.pt``, not ``best.pt``)."""
    parts = [Path(path).parts for path in paths]
    for depth in range(1, max(len(p) for p in parts) + 1):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [str(path) for path in paths]


def markdown(report: dict) -> str:
    student = next(m for m in report["models"] if m["role"] == "student")
    split = "test" if student["test"] else "dev"
    config = report["config"]
    lines = [
        "# Distillation report",
        "",
        f"Transfer set: {report['transfer_examples']} unlabeled examples ({report['transfer_skipped']} skipped); "
        f"target confidence S = {config['target_confidence']}; lr {config['lr']:g}, batch {config['batch_size']}, "
        f"up to {config['epochs']} epochs, early stopping after {config['early_stopping']} on the dev set; "
        f"{config['seeds']} seed(s) per method. Accuracies in % on the {split} set (mean ± std over seeds).",
        "",
        "| model | role | T | top-1 | top-5 |",
        "|---|---|---:|---:|---:|",
    ]
    names = short_names([model["checkpoint"] for model in report["models"]])
    for model, name in zip(report["models"], names):
        scores = model[split]
        lines.append(
            f"| {name} | {model['role']} | {model['temperature']:.3f} | "
            f"{100 * scores['top1']:.2f} | {100 * scores['top5']:.2f} |"
        )
    lines += [
        "",
        f"Student before distillation: top-1 {100 * student[split]['top1']:.2f}, top-5 {100 * student[split]['top5']:.2f}.",
        "",
        "| blend | top-1 | top-5 | gain (top-1 points) | best epoch |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in summary_rows(report):
        name = f"{row['blend']} (control)" if row["control"] else row["blend"]
        epochs = ", ".join(str(e) for e in row["best_epoch"])
        lines.append(f"| {name} | {_cell(row['top1'])} | {_cell(row['top5'])} | {_cell(row['gain'])} | {epochs} |")
    return "\n".join(lines) + "\n"


def plot_curves(report: dict, output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.2))
    student = next(m for m in report["models"] if m["role"] == "student")
    methods = list(dict.fromkeys(run["blend"] for run in report["runs"]))
    for method in methods:
        curves = [r["curve"] for r in report["runs"] if r["blend"] == method and r["curve"]]
        if not curves:
            continue
        length = min(len(c) for c in curves)
        mean = [100 * statistics.fmean(c[i] for c in curves) for i in range(length)]
        axis.plot(range(1, length + 1), mean, label=method, linestyle="--" if method in CONTROLS else "-")
    axis.axhline(100 * student["dev"]["top1"], color="black", linewidth=0.8, label="student before")
    axis.set_xlabel("epoch")
    axis.set_ylabel("dev top-1 (%)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    axis.set_title("Student accuracy during distillation (mean over seeds)")
    figure.tight_layout()
    with atomic_path(output) as temporary:
        figure.savefig(temporary, dpi=110, format="png")
    plt.close(figure)


def write_report(report: dict, out: Path) -> None:
    import json

    write_text_atomic(out / "report.json", json.dumps(report, indent=1))
    write_text_atomic(out / "report.md", markdown(report))
    if report["runs"]:
        plot_curves(report, out / "curves.png")
