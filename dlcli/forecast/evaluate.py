"""Evaluating models and baselines on the test periods of a model's split (the paper's protocol).

Each test period is one forecast origin: models read the history before it and forecast
``horizon`` periods, which are scored against the data on every series that has a row
before the origin (zero days included). Baselines run on the same series and periods;
on simulated data the oracle (``oracle.py``) gives the best achievable error.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import polars as pl

from dlcli.console import console_is_quiet
from dlcli.errors import UsageError
from dlcli.files import run_folder_lock, write_text_atomic
from dlcli.forecast import baselines as base
from dlcli.forecast.metrics import METRICS, per_day, per_series_rmsle, summary
from dlcli.forecast.oracle import SimulationTruth
from dlcli.forecast.plots import plot_daily, plot_error_distributions, plot_examples
from dlcli.forecast.predict import forecast_log, open_model
from dlcli.forecast.train import log_to
from dlcli.forecast.windows import SplitConfig, make_split

log = logging.getLogger("dlcli.forecast")

BASELINES = ("random", "average", "seasonal-naive", "lightgbm")
EXAMPLE_PERCENTILES = (0, 1, 2, 5, 15, 50)


def _model_names(paths: list[Path]) -> list[str]:
    names = []
    for path in paths:
        name = path.parent.name if path.is_file() and path.suffix == ".pt" else path.name
        names.append(name if name not in names else f"{name}-{len(names) + 1}")
    return names


def _oracle(truth: SimulationTruth, panel, series: np.ndarray, origin: int, horizon: int) -> np.ndarray | None:
    """The oracle's log forecasts for ``series`` (None when the truth file does not cover the period)."""
    when = panel.dates[origin]
    if not truth.covers(when, horizon):
        return None
    forecast = truth.log_forecast(when, horizon)
    rows = pl.DataFrame(
        {"store_nbr": truth.store_nbr, "item_nbr": truth.item_nbr, "row": np.arange(len(truth.store_nbr))}
    )
    wanted = panel.keys[series].with_columns(
        pl.col("store_nbr").cast(rows["store_nbr"].dtype), pl.col("item_nbr").cast(rows["item_nbr"].dtype)
    )
    found = wanted.join(rows, on=["store_nbr", "item_nbr"], how="left", maintain_order="left")["row"].to_numpy()
    if np.isnan(found.astype(float)).any():
        return None
    return forecast[found.astype(np.int64)]


def evaluate(
    model_paths: list[str | Path],
    data: str | Path,
    out: str | Path,
    *,
    baselines: tuple[str, ...] | list[str] = BASELINES,
    test_periods: int | None = None,
    batch_size: int | None = None,
    cache_dir: str | None = None,
    seed: int = 0,
    data_options: dict | None = None,
    device: str | None = None,
    precision: str | None = None,
) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise UsageError(f"unknown baseline(s) {', '.join(unknown)} (use {', '.join(BASELINES)})")
    with run_folder_lock(out, "the evaluation in"), log_to(out / "evaluate.log"):
        paths = [Path(p) for p in model_paths]
        models = [open_model(p, device, precision) for p in paths]
        names = _model_names(paths)
        first = models[0]
        for name, model in zip(names, models):
            if model.horizon != first.horizon or model.features["kind"] != first.features["kind"]:
                raise UsageError(f"{name}: all models must share the data kind and horizon to be compared")
        split_config = SplitConfig(**first.features["split"])
        if test_periods is not None:
            if test_periods < 1:
                raise UsageError(f"--test-periods must be at least 1, not {test_periods}")
            split_config.test_periods = test_periods
        if split_config.test_periods < 1:
            raise UsageError("no test periods: the model was trained with --test-periods 0; pass --test-periods N")
        from dlcli.forecast.data import load_panel

        panel = load_panel(data, first.data_config(cache_dir, data_options))
        split = make_split(panel, split_config)
        horizon = first.horizon
        origins = split.test_origins
        series_per_period = [np.flatnonzero(panel.first_period < origin) for origin in origins]
        truths = [base.log_target(panel, s, o, o + horizon) for s, o in zip(series_per_period, origins)]
        forecasts: dict[str, list[np.ndarray]] = {}
        timings: dict[str, float] = {}
        for name, model in zip(names, models):
            started = time.perf_counter()
            maker = model.maker(panel)
            forecasts[name] = [
                forecast_log(model, maker, s, o, batch_size=batch_size, description=f"{name}, period {i + 1}")
                for i, (s, o) in enumerate(zip(series_per_period, origins))
            ]
            timings[name] = time.perf_counter() - started
        if "lightgbm" in baselines:
            try:
                started = time.perf_counter()
                booster = base.LightGBMBaseline(panel, horizon, seed=seed, threads=max(1, _threads())).fit(split)
                forecasts["lightgbm"] = [booster.predict(s, o) for s, o in zip(series_per_period, origins)]
                timings["lightgbm"] = time.perf_counter() - started
            except ImportError:
                log.warning("lightgbm is not installed (pip install 'dlcli[eval]'): its baseline is skipped")
        if "seasonal-naive" in baselines:
            forecasts["seasonal-naive"] = [
                base.seasonal_naive(panel, s, o, horizon) for s, o in zip(series_per_period, origins)
            ]
        if "average" in baselines:
            forecasts["average"] = [base.average_baseline(t) for t in truths]
        if "random" in baselines:
            forecasts["random"] = [base.random_baseline(t, seed + i) for i, t in enumerate(truths)]
        truth_file = SimulationTruth.find(panel.source) if panel.kind == "favorita" else None
        if truth_file is not None:
            oracle = [_oracle(truth_file, panel, s, o, horizon) for s, o in zip(series_per_period, origins)]
            if all(o is not None for o in oracle):
                forecasts["oracle"] = oracle
            else:
                log.warning(f"{truth_file.path} does not cover every test period: no oracle")
        report = _report(panel, names, forecasts, truths, series_per_period, origins, timings)
        _write(out, report)
        _figures(out, panel, forecasts, truths, series_per_period, origins, names, report)
        return report


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st..."""
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _report(panel, names, forecasts, truths, series_per_period, origins, timings) -> dict:
    rows = []
    for name, periods in forecasts.items():
        for index, (predicted, truth, series) in enumerate(zip(periods, truths, series_per_period)):
            weights = panel.weights[series]
            rows.append({"model": name, "period": index + 1, "day": 0, **summary(predicted, truth, weights)})
            for day, values in enumerate(per_day(predicted, truth, weights), start=1):
                rows.append({"model": name, "period": index + 1, "day": day, **values})
    table = {}
    for name in forecasts:
        periods = [r for r in rows if r["model"] == name and r["day"] == 0]
        table[name] = {
            "periods": [{k: r[k] for k in METRICS} for r in periods],
            "mean": {k: float(np.mean([r[k] for r in periods])) for k in METRICS},
        }
    oracle = table.get("oracle", {}).get("mean")
    for name, entry in table.items():
        if oracle is not None:
            entry["gap_to_oracle"] = {k: entry["mean"][k] - oracle[k] for k in METRICS}
        if name in timings:
            entry["seconds"] = round(timings[name], 2)
    return {
        "data": str(panel.source),
        "series": [len(s) for s in series_per_period],
        "origins": [str(panel.dates[o]) for o in origins],
        "horizon": int(truths[0].shape[1]),
        "models": names,
        "table": table,
        "rows": rows,
    }


def markdown_table(report: dict) -> str:
    periods = len(report["origins"])
    head = (
        "| model | "
        + " | ".join(f"P{i + 1} RMSLE" for i in range(periods))
        + " | mean RMSLE | mean NWRMSLE | mean MALE | gap to oracle (RMSLE) |"
    )
    lines = [
        f"Test periods of {report['horizon']} periods from {', '.join(report['origins'])}; "
        f"{', '.join(f'{n:,}' for n in report['series'])} series. MALE = mean |log(yhat+1) - log(y+1)| (no square root).",
        "",
        head,
        "|" + "---|" * (periods + 5),
    ]
    ordered = sorted(report["table"].items(), key=lambda item: item[1]["mean"]["rmsle"])
    for name, entry in ordered:
        gap = entry.get("gap_to_oracle", {}).get("rmsle")
        cells = [f"{p['rmsle']:.4f}" for p in entry["periods"]]
        cells += [f"{entry['mean'][k]:.4f}" for k in METRICS]
        cells.append("-" if gap is None else f"{gap:+.4f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _write(out: Path, report: dict) -> None:
    write_text_atomic(
        out / "metrics.json", json.dumps({k: v for k, v in report.items() if k != "rows"}, indent=2) + "\n"
    )
    frame = pl.DataFrame(report["rows"])
    from dlcli.files import atomic_path

    with atomic_path(out / "metrics.csv") as path:
        frame.write_csv(path, float_precision=6)
    write_text_atomic(out / "report.md", markdown_table(report))


def _figures(out: Path, panel, forecasts, truths, series_per_period, origins, names, report) -> None:
    daily = {
        name: [
            [r["rmsle"] for r in report["rows"] if r["model"] == name and r["period"] == p + 1 and r["day"] > 0]
            for p in range(len(origins))
        ]
        for name in forecasts
        if name != "random"
    }
    plot_daily(daily, report["origins"], out / "daily.png")
    # series present in every period: concatenate the periods (the paper's Figs. 5.7 and 5.8)
    common = series_per_period[0]
    positions = [np.searchsorted(s, common) for s in series_per_period]
    actual = np.concatenate([t[p] for t, p in zip(truths, positions)], axis=1)
    joined = {
        name: np.concatenate([f[p] for f, p in zip(periods, positions)], axis=1)
        for name, periods in forecasts.items()
        if name != "random"
    }
    groups: dict[str, dict[str, np.ndarray]] = {}
    dimensions = [c for c in ("store_nbr", "item_nbr") if c in panel.keys.columns] or [panel.keys.columns[0]]
    keys = panel.keys[common]
    for dimension in dimensions:
        codes = keys[dimension].rank("dense").to_numpy().astype(np.int64) - 1
        groups[dimension.removesuffix("_nbr")] = {}
        for name, predicted in joined.items():
            squared = np.nan_to_num(np.nanmean((predicted - actual) ** 2, axis=1))  # NaN: unrecorded periods
            sums = np.bincount(codes, weights=squared) / np.bincount(codes)
            groups[dimension.removesuffix("_nbr")][name] = np.sqrt(sums)
    plot_error_distributions(groups, out / "errors.png")
    best = names[int(np.argmin([report["table"][n]["mean"]["rmsle"] for n in names]))]
    per_series = per_series_rmsle(joined[best], actual)
    order = np.argsort(per_series)
    picks, percentiles = [], []
    for q in EXAMPLE_PERCENTILES:  # with few series, nearby percentiles fall on one series: show it once
        pick = order[min(len(order) - 1, int(round(q / 100 * (len(order) - 1))))]
        if pick not in picks:
            picks.append(pick)
            percentiles.append(q)
    dates = np.concatenate([panel.dates[o : o + report["horizon"]] for o in origins])
    before = np.arange(max(0, origins[0] - 56), origins[0])
    history = base.log_target(panel, common[picks], before[0], before[-1] + 1) if len(before) else None
    key_text = panel.key_strings()[common[picks]]
    titles = [
        f"{key} - {ordinal(q)} percentile of {best}'s RMSLE ({per_series[i]:.3f})"
        for key, q, i in zip(key_text, percentiles, picks)
    ]
    shown = {n: v[picks] for n, v in joined.items() if n in names or n in ("lightgbm", "oracle")}
    plot_examples(
        dates,
        actual[picks],
        shown,
        titles,
        out / "examples.png",
        history_dates=panel.dates[before] if history is not None else None,
        history=history,
    )
    if not console_is_quiet():
        log.info(f"figures: {out / 'daily.png'}, {out / 'errors.png'}, {out / 'examples.png'}")
