"""Tables and plots of an activation study, in the form of the paper's Tables 3.2/3.3 and Fig. 3.5."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from dlcli.files import atomic_path, write_text_atomic

BENCHMARKS = ("relu", "leaky_relu", "tanh", "elu", "silu", "mish", "pflu", "fpflu")
PROPOSED = ("modulus", "softmodulus_q", "softmodulus_t")


def best_scores(curves: dict) -> dict[str, dict[str, list[float]]]:
    """Per architecture and activation: each seed's best test accuracy (percent)."""
    return {
        architecture: {activation: [100.0 * max(run) for run in runs] for activation, runs in by_activation.items()}
        for architecture, by_activation in curves.items()
    }


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def rank_sum_greater(sample: list[float], other: list[float]) -> float | None:
    """One-sided Wilcoxon rank-sum p-value that ``sample`` is greater than ``other``."""
    if len(sample) < 2 or len(other) < 2:
        return None
    from scipy.stats import ranksums

    return float(ranksums(sample, other, alternative="greater").pvalue)


def comparisons(scores: dict) -> list[dict]:
    """Each proposed activation against the best benchmark of its architecture (by mean)."""
    rows = []
    for architecture, by_activation in scores.items():
        benchmarks = {a: v for a, v in by_activation.items() if a in BENCHMARKS}
        if not benchmarks:
            continue
        best = max(benchmarks, key=lambda a: statistics.fmean(benchmarks[a]))
        for proposed in PROPOSED:
            if proposed not in by_activation:
                continue
            p = rank_sum_greater(by_activation[proposed], benchmarks[best])
            rows.append(
                {
                    "architecture": architecture,
                    "activation": proposed,
                    "mean": statistics.fmean(by_activation[proposed]),
                    "best_benchmark": best,
                    "best_benchmark_mean": statistics.fmean(benchmarks[best]),
                    "p_value": p,
                    "significant": p is not None and p < 0.05,
                }
            )
    return rows


def accuracy_table(scores: dict) -> str:
    architectures = list(scores)
    activations = [a for a in (*BENCHMARKS, *PROPOSED) if any(a in scores[arch] for arch in architectures)]
    best_of = {
        arch: max(scores[arch], key=lambda a: statistics.fmean(scores[arch][a]))
        for arch in architectures
        if scores[arch]
    }
    lines = ["| activation | " + " | ".join(architectures) + " |", "|---|" + "---:|" * len(architectures)]
    for activation in activations:
        cells = []
        for arch in architectures:
            values = scores[arch].get(activation)
            if not values:
                cells.append("-")
                continue
            mean, std = mean_std(values)
            cell = f"{mean:.2f} ± {std:.2f}"
            cells.append(f"**{cell}**" if best_of.get(arch) == activation else cell)
        lines.append(f"| {activation} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def comparison_table(rows: list[dict]) -> str:
    lines = [
        "| architecture | activation | mean | best benchmark | its mean | p (one-sided rank-sum) | significant at 0.05 |",
        "|---|---|---:|---|---:|---:|---|",
    ]
    for row in rows:
        p = "-" if row["p_value"] is None else f"{row['p_value']:.3g}"
        lines.append(
            f"| {row['architecture']} | {row['activation']} | {row['mean']:.2f} | {row['best_benchmark']} | "
            f"{row['best_benchmark_mean']:.2f} | {p} | {'yes' if row['significant'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def plot_curves(curves: dict, output: Path, title: str) -> None:
    """Mean test accuracy per epoch with a 95% confidence band, one panel per architecture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    architectures = list(curves)
    figure, axes = plt.subplots(1, len(architectures), figsize=(5.5 * len(architectures), 4.2), squeeze=False)
    colours = plt.get_cmap("tab20")
    for axis, architecture in zip(axes[0], architectures):
        for index, (activation, runs) in enumerate(sorted(curves[architecture].items())):
            epochs = min(len(run) for run in runs)
            means, bands = [], []
            for epoch in range(epochs):
                values = [100.0 * run[epoch] for run in runs]
                mean, std = mean_std(values)
                means.append(mean)
                bands.append(1.96 * std / math.sqrt(len(values)))
            xs = range(1, epochs + 1)
            bold = activation in PROPOSED
            axis.plot(xs, means, label=activation, color=colours(index), linewidth=2.0 if bold else 1.0)
            axis.fill_between(
                xs,
                [m - b for m, b in zip(means, bands)],
                [m + b for m, b in zip(means, bands)],
                color=colours(index),
                alpha=0.15,
            )
        finals = [100.0 * max(run) for runs in curves[architecture].values() for run in runs]
        axis.set_ylim(max(0.0, min(finals) - 10.0), min(100.0, max(finals) + 1.0))
        axis.set_title(architecture)
        axis.set_xlabel("epoch")
        axis.set_ylabel("test accuracy (%)")
        axis.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="lower right")
    figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(output) as temporary:
        figure.savefig(temporary, dpi=110, format="png")
    plt.close(figure)


def write_report(results: dict, out: Path) -> str:
    """Write report.md and curves.png into ``out``; return the markdown."""
    from dlcli.activation_study.bench import bench_markdown

    config = results["config"]
    scores = best_scores(results["curves"])
    seeds = {len(v) for arch in scores.values() for v in arch.values()}
    text = [
        f"# Activation study: {results['dataset']}",
        "",
        f"Best test accuracy (%) over {config['epochs']} epochs, mean ± std of {', '.join(map(str, sorted(seeds)))} seeds; "
        f"width x{config['width']}, Adam lr {config['lr']:g} (warm-up {config['warmup_epochs']:g} epochs from "
        f"{config['warmup_start_lr']:g}, cosine to {config['min_lr']:g}), batch {config['batch_size']}. "
        "Bold: best of the column.",
        "",
        accuracy_table(scores),
        "Proposed activations against the best benchmark of each architecture:",
        "",
        comparison_table(comparisons(scores)),
    ]
    if results.get("bench"):
        text += ["## Speed and memory (forward+backward)", "", bench_markdown(results["bench"])]
    markdown = "\n".join(text)
    write_text_atomic(out / "report.md", markdown)
    plot_curves(results["curves"], out / "curves.png", f"Activation study: {results['dataset']} (mean, 95% CI)")
    return markdown
