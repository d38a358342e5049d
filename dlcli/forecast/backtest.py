"""Backtests on any data set: rolling origins, every model retrained on what was known at each origin.

What NeuralForecast's ``cross_validation`` and Darts' ``backtest`` do: for each of
``origins`` forecast origins, one horizon apart and ending ``holdout`` periods before the
data's end, the network (dlcli's data-fitted defaults, or the given options) and the
baselines are trained on the periods before the origin only (``data.truncated``), then
forecast ``horizon`` periods, scored in units and in log1p: WMAE, MAE, WAPE, RMSLE, MASE,
sMAPE (``metrics.unit_errors``). Unrecorded periods (``--missing unknown``) are not scored.

``holdout`` keeps a final period untouched while tuning: tune with ``--holdout 8 --origins
3``, then report once with ``--holdout 0 --origins 1``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from dlcli.config import load_config
from dlcli.errors import UsageError
from dlcli.files import FileLock, atomic_path, write_text_atomic
from dlcli.forecast import baselines as base
from dlcli.forecast.data import DataConfig, Panel, load_panel, truncated
from dlcli.forecast.metrics import BACKTEST_METRICS, mase_scales, unit_errors
from dlcli.forecast.plots import plot_daily
from dlcli.forecast.train import log_to

log = logging.getLogger("dlcli.forecast")

MODELS = (
    "net",
    "lightgbm",
    "lightgbm-l2",
    "lightgbm-fixed",
    "seasonal-naive",
    "naive",
    "blend",
    "autoets",
    "autotheta",
)
DEFAULT_MODELS = ("net", "lightgbm", "seasonal-naive", "naive", "blend")


@dataclass
class BacktestConfig:
    horizon: int = 8  # periods forecast from each origin
    origins: int = 3  # rolling origins, one horizon apart, the last one `horizon` periods before the (held-out) end
    holdout: int = 0  # periods at the end that are never read (kept untouched for the final figures)
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [m for m in self.models if m not in MODELS]
        if unknown:
            raise UsageError(f"unknown model(s) {', '.join(unknown)} (use {', '.join(MODELS)})")
        if self.horizon < 1 or self.origins < 1 or self.holdout < 0:
            raise UsageError("--horizon and --origins must be at least 1 and --holdout not negative")


def origins_of(panel: Panel, config: BacktestConfig) -> list[int]:
    end = panel.n_observed - config.holdout
    origins = [end - config.horizon * k for k in range(config.origins, 0, -1)]
    if origins[0] < 2 * config.horizon:
        raise UsageError(f"{panel.n_observed} periods cannot hold {config.origins} origins of {config.horizon} "
                         f"periods after a holdout of {config.holdout}")  # fmt: skip
    return origins


def _net(sub: Panel, origin: int, series: np.ndarray, folder: Path, overrides: dict, seed: int, data_config) -> np.ndarray:  # fmt: skip
    """Train the network on ``sub`` (the data before ``origin``) and forecast from ``origin``."""
    from dlcli.forecast.defaults import fitted_overrides
    from dlcli.forecast.predict import forecast_log, open_model
    from dlcli.forecast.train import ForecastConfig, train_forecaster

    given = {k: v for k, v in overrides.items() if v is not None}
    config = load_config(ForecastConfig, None, {**fitted_overrides(sub, given.get("split.horizon")), **given})
    config.train.seed = seed
    if data_config is not None:
        config.data = data_config
    result = train_forecaster(sub, config, folder, overwrite=True)
    model = open_model(result.best_path or folder / "last.pt", config.train.device, config.train.precision)
    return forecast_log(model, model.maker(sub), series, origin, description=f"net from {sub.dates[origin]}")


def _lightgbm(sub: Panel, origin: int, series: np.ndarray, horizon: int, seed: int, objective: str, rounds: int = 0) -> np.ndarray:  # fmt: skip
    """LightGBM, early-stopped on the last horizon before the origin; or (``rounds``) a fixed number of rounds
    trained on every origin up to the last one, the validation window included."""
    from dlcli.forecast.windows import SplitConfig, make_split

    valid = 0 if rounds else horizon
    split = make_split(sub, SplitConfig(horizon=horizon, test_periods=0, valid_periods=valid, gap_periods=0, min_history=2 * horizon))  # fmt: skip
    booster = base.LightGBMBaseline(sub, horizon, seed=seed, threads=_threads(), objective=objective, rounds=rounds or 600)  # fmt: skip
    booster = booster.fit(split)
    return booster.predict(series, origin)


def _statsforecast(sub: Panel, origin: int, series: np.ndarray, horizon: int, which: str) -> np.ndarray:
    """Per-series AutoETS / AutoTheta on log1p (statsforecast, an optional extra); gaps filled by interpolation."""
    from statsforecast.models import AutoETS, AutoTheta

    history = base.log_target(sub, series, 0, origin)
    season = base.season_length(sub)
    forecasts = np.zeros((len(series), horizon), np.float32)
    for row, values in enumerate(history):
        start = min(int(sub.first_period[series[row]]), origin - 1)
        y = values[start:]
        known = np.isfinite(y)
        if known.sum() < 3:
            forecasts[row] = np.nan_to_num(y[known][-1]) if known.any() else 0.0
            continue
        y = np.interp(np.arange(len(y)), np.flatnonzero(known), y[known]).astype(np.float64)
        length = season if len(y) >= 2 * season else 1
        model = AutoETS(season_length=length) if which == "autoets" else AutoTheta(season_length=length)
        try:
            forecasts[row] = model.forecast(y=y, h=horizon)["mean"]
        except Exception as error:  # a series a model cannot fit: its last value (the model's own fallback)
            log.debug(f"{which} failed on series {series[row]}: {error}")
            forecasts[row] = y[-1]
    return np.clip(np.nan_to_num(forecasts), 0, None)


def _threads() -> int:
    import torch

    return max(1, torch.get_num_threads())


def backtest(data: str | Path | Panel, out: str | Path, config: BacktestConfig, *, data_config: DataConfig | None = None, train_overrides: dict | None = None) -> dict:  # fmt: skip
    """Run the backtest, write report.md, metrics.json/csv and one PNG per metric (by horizon step) into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    overrides = {**(train_overrides or {}), "split.horizon": config.horizon}
    with FileLock(out / ".lock", what=f"the backtest in {out}"), log_to(out / "backtest.log"):
        panel = data if isinstance(data, Panel) else load_panel(data, data_config)
        origins = origins_of(panel, config)
        rows: list[dict] = []
        timings: dict[str, float] = {}
        for index, origin in enumerate(origins, start=1):
            sub = truncated(panel, origin)
            series = np.flatnonzero(panel.first_period < origin)
            truth = base.log_target(panel, series, origin, origin + config.horizon)
            scales = mase_scales(base.log_target(panel, series, 0, origin))
            weights = panel.weights[series]
            forecasts: dict[str, np.ndarray] = {}
            log.info(f"origin {index}/{len(origins)}: {panel.dates[origin]}, {len(series):,} series")

            def timed(name, make, *arguments, forecasts=forecasts):
                started = time.perf_counter()
                try:
                    forecasts[name] = np.asarray(make(*arguments), np.float32)
                except ImportError as error:
                    log.warning(f"{name} is skipped: {error} (pip install 'dlcli[eval]')")
                    return
                timings[name] = timings.get(name, 0.0) + time.perf_counter() - started

            h = config.horizon
            for name in config.models:
                if name == "naive":
                    timed(name, base.naive, sub, series, origin, h)
                elif name == "seasonal-naive":
                    timed(name, base.seasonal_naive, sub, series, origin, h)
                elif name == "lightgbm-fixed":  # L1, 200 rounds: about the median the early-stopped ones reached
                    timed(name, _lightgbm, sub, origin, series, h, config.seed, "l1", 200)
                elif name in ("lightgbm", "lightgbm-l2"):
                    objective = "l1" if name == "lightgbm" else "regression"
                    timed(name, _lightgbm, sub, origin, series, h, config.seed, objective)
                elif name == "net":
                    folder = out / f"origin-{index}" / "net"
                    timed(name, _net, sub, origin, series, folder, overrides, config.seed, data_config)
                elif name in ("autoets", "autotheta"):
                    timed(name, _statsforecast, sub, origin, series, h, name)
            boosted = next((m for m in ("lightgbm", "lightgbm-fixed", "lightgbm-l2") if m in forecasts), None)
            if "blend" in config.models and "net" in forecasts and boosted:
                forecasts["blend"] = (forecasts["net"] + forecasts[boosted]) / 2  # a geometric mean in units
            for name, predicted in forecasts.items():
                overall = unit_errors(predicted, truth, weights, scales)
                rows.append({"model": name, "origin": index, "step": 0, **{k: float(overall[k]) for k in BACKTEST_METRICS}})  # fmt: skip
                steps = unit_errors(predicted, truth, weights, scales, axis=0)
                for step in range(config.horizon):
                    rows.append({"model": name, "origin": index, "step": step + 1, **{k: float(steps[k][step]) for k in BACKTEST_METRICS}})  # fmt: skip
        report = _report(panel, origins, rows, timings, config)
        _write(out, report, rows)
        _figures(out, report, rows, config)
        return report


def _report(panel: Panel, origins: list[int], rows: list[dict], timings: dict, config: BacktestConfig) -> dict:
    table = {}
    for name in dict.fromkeys(r["model"] for r in rows):
        overall = [r for r in rows if r["model"] == name and r["step"] == 0]
        table[name] = {
            "origins": [{k: r[k] for k in BACKTEST_METRICS} for r in overall],
            "mean": {k: float(np.mean([r[k] for r in overall])) for k in BACKTEST_METRICS},
            "seconds": round(timings.get(name, 0.0), 2),
        }
    return {
        "data": str(panel.source),
        "origins": [str(panel.dates[o]) for o in origins],
        "horizon": config.horizon,
        "holdout": config.holdout,
        "table": table,
    }


def markdown_table(report: dict) -> str:
    lines = [
        f"Origins {', '.join(report['origins'])}; horizon {report['horizon']}; holdout {report['holdout']} periods "
        "(never read). Means over the origins; MAE/WMAE in units, WAPE = sum|error| / sum(units), sMAPE in %, "
        "MASE against the in-sample naive forecast; seconds = training + forecasting, all origins.",
        "",
        "| model | " + " | ".join(k.upper() if k != "smape" else "sMAPE" for k in BACKTEST_METRICS) + " | seconds |",
        "|---|" + "---|" * (len(BACKTEST_METRICS) + 1),
    ]
    for name, entry in sorted(report["table"].items(), key=lambda item: item[1]["mean"]["mae"]):
        cells = [f"{entry['mean'][k]:.4f}" if k in ("rmsle", "wape", "mase") else f"{entry['mean'][k]:.2f}" for k in BACKTEST_METRICS]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {entry['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def _write(out: Path, report: dict, rows: list[dict]) -> None:
    write_text_atomic(out / "metrics.json", json.dumps(report, indent=2) + "\n")
    with atomic_path(out / "metrics.csv") as path:
        pl.DataFrame(rows).write_csv(path, float_precision=6)
    write_text_atomic(out / "report.md", markdown_table(report))


def _figures(out: Path, report: dict, rows: list[dict], config: BacktestConfig) -> None:
    """One PNG per metric: its value at each horizon step, one panel per origin, one line per model."""
    for metric in BACKTEST_METRICS:
        by_model = {
            name: [
                [r[metric] for r in rows if r["model"] == name and r["origin"] == o + 1 and r["step"] > 0]
                for o in range(len(report["origins"]))
            ]
            for name in report["table"]
        }
        plot_daily(by_model, report["origins"], out / f"{metric}.png", metric=metric.upper())
