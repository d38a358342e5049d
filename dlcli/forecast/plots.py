"""Forecast figures people look at: daily error per period, error distributions, example series."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlcli.files import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> Path:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110, format="png")
    _pyplot().close(figure)
    return path


def plot_daily(daily: dict[str, list[list[float]]], origins: list[str], path: Path, metric: str = "RMSLE") -> Path:
    """One panel per test period: the metric of each forecast day, one line per model (Fig. 5.10)."""
    plt = _pyplot()
    figure, axes = plt.subplots(len(origins), 1, figsize=(9, 2.6 * len(origins)), squeeze=False, sharex=True)
    for index, (axis, origin) in enumerate(zip(axes[:, 0], origins)):
        for name, periods in daily.items():
            values = periods[index]
            axis.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=name)
        axis.set_title(f"test period {index + 1} (from {origin})", fontsize=9)
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("forecast day")
    axes[0, 0].legend(fontsize=7, ncol=3)
    figure.tight_layout()
    return _save(figure, path)


def plot_error_distributions(groups: dict[str, dict[str, np.ndarray]], path: Path) -> Path:
    """Box plots of RMSLE per group (store, item, series), one box per model (Fig. 5.7)."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4), squeeze=False)
    for axis, (dimension, by_model) in zip(axes[0], groups.items()):
        names = list(by_model)
        axis.boxplot([by_model[n] for n in names], showfliers=False)
        axis.set_xticks(np.arange(1, len(names) + 1), names, rotation=30, ha="right", fontsize=8)
        axis.set_title(f"RMSLE per {dimension}")
        axis.grid(alpha=0.3, axis="y")
    figure.tight_layout()
    return _save(figure, path)


def plot_examples(
    dates: np.ndarray,
    actual: np.ndarray,
    forecasts: dict[str, np.ndarray],
    titles: list[str],
    path: Path,
    *,
    history_dates: np.ndarray | None = None,
    history: np.ndarray | None = None,
) -> Path:
    """Actual and forecast log1p sales of a few series over the test periods (Fig. 5.8)."""
    plt = _pyplot()
    rows = len(titles)
    figure, axes = plt.subplots(rows, 1, figsize=(11, 2.2 * rows), squeeze=False)
    for row, axis in enumerate(axes[:, 0]):
        if history is not None:
            axis.plot(history_dates, history[row], color="0.6", linewidth=1, label="history")
        axis.plot(dates, actual[row], color="black", linewidth=1.4, label="actual")
        for name, values in forecasts.items():
            style = "--" if name == "oracle" else "-"
            axis.plot(dates, values[row], style, linewidth=1, label=name)
        axis.set_title(titles[row], fontsize=9)
        axis.set_ylabel("log1p(sales)")
        axis.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7, ncol=4)
    figure.autofmt_xdate()
    figure.tight_layout()
    return _save(figure, path)
