"""Forecasts for every series from a trained model, written atomically (parquet or CSV).

Series the model never saw (a new item, a new store, a new series id) are forecast like
any other: their unknown identity maps to the embedding row that training reserved for
it (``split.unknown_rate`` of the training windows hide their identity, so that row
learns an average series), while their other static fields (family, class, store,
city...) and whatever history they have still count. A series with no history at all is
forecast from its static fields and the known future inputs alone (history 0). Forecasts
are expm1 of the clipped log1p output: never negative.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch

from dlcli.console import console_is_quiet, progress
from dlcli.errors import CheckpointError, UsageError
from dlcli.files import FileLock, atomic_path
from dlcli.forecast.data import DataConfig, Panel, load_panel
from dlcli.forecast.train import load_model
from dlcli.forecast.windows import Layout, WindowMaker
from dlcli.train import autocast, choose_device, resolve_precision
from dlcli.train.device import configure_threads

log = logging.getLogger("dlcli.forecast")

# Default series per forward pass. On CPU, batches stay small enough that the LSTM's gates
# ([B, history, 4 x hidden] floats, ~26 MB at history 200) fall under glibc's mmap threshold:
# each pass then reuses heap memory instead of mapping and zeroing fresh pages, and larger
# batches do not make the recurrent steps faster. ~200k series, history 200, one core:
# 97 s at 4,096 (21 s of it in the kernel), 58 s at 64.
BATCH_SIZE = {"cpu": 64, "other": 4096}


def default_batch_size(device: torch.device) -> int:
    return BATCH_SIZE["cpu" if device.type == "cpu" else "other"]


@dataclass
class LoadedModel:
    model: torch.nn.Module
    features: dict
    device: torch.device
    precision: str
    path: Path | None = None

    @property
    def history(self) -> int | None:
        return self.features["history"]

    @property
    def horizon(self) -> int:
        return int(self.features["horizon"])

    def data_config(self, cache_dir: str | None = None, options: dict | None = None) -> DataConfig:
        values = dict(self.features["data"])
        if cache_dir is not None:
            values["cache_dir"] = cache_dir
        values.update(options or {})  # fill_missing, duplicates given to this command
        return DataConfig(**values)

    def maker(self, panel: Panel, horizon: int | None = None) -> WindowMaker:
        if panel.kind != self.features["kind"]:
            raise UsageError(f"the model was trained on {self.features['kind']} data, not {panel.kind} data")
        return WindowMaker(panel, Layout(**self.features["layout"]), self.features["vocab"], horizon or self.horizon)


def open_model(path: str | Path, device: str | None = None, precision: str | None = None) -> LoadedModel:
    """The model at ``path`` on ``device`` (None or auto: CUDA when present) in ``precision`` (None or auto)."""
    configure_threads()
    device = choose_device(device)
    precision = resolve_precision(precision, device)
    model, features, _ = load_model(path, device)
    return LoadedModel(model, features, device, precision, Path(path))


def forecast_log(
    loaded: LoadedModel,
    maker: WindowMaker,
    series: np.ndarray,
    origin: int,
    *,
    batch_size: int | None = None,
    description: str = "forecasting",
) -> np.ndarray:
    """log1p forecasts [len(series), horizon] from ``origin``, clipped at 0, in batches (default: per device)."""
    batch_size = default_batch_size(loaded.device) if batch_size is None else batch_size
    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, not {batch_size}")
    output = np.zeros((len(series), maker.horizon), np.float32)
    show = not console_is_quiet() and len(series) > batch_size
    with progress(disable=not show, transient=True) as bar, torch.inference_mode():
        task = bar.add_task(description, total=len(series), info="")
        for begin in range(0, len(series), batch_size):
            chunk = series[begin : begin + batch_size]
            window = maker.make(chunk, np.full(len(chunk), origin), loaded.history)
            inputs = [torch.from_numpy(window[k]).to(loaded.device) for k in ("history", "future", "static")]
            with autocast(loaded.device, loaded.precision):
                predicted = loaded.model(*inputs)
            output[begin : begin + len(chunk)] = predicted.float().clamp(min=0).cpu().numpy()
            bar.update(task, advance=len(chunk))
    finite = np.isfinite(output).all(axis=1)
    if not finite.all():  # never a NaN in a forecast file: the inputs were checked, so the model is at fault
        example = panel_key(maker.panel, series[int(np.argmin(finite))])
        raise CheckpointError(
            f"the model gives non-finite forecasts for {int((~finite).sum()):,} of {len(series):,} series "
            f"(e.g. {example}): its weights are damaged or it diverged; nothing written",
            path=loaded.path,
        )
    return output


def panel_key(panel: Panel, series: int) -> str:
    return "/".join(str(panel.keys[column][int(series)]) for column in panel.keys.columns)


def forecast_frame(
    panel: Panel, series: np.ndarray, origin: int, log_forecast: np.ndarray, value_name: str, fallback: np.ndarray
) -> pl.DataFrame:
    """Long table: the series' identity columns, date, forecast, and whether the unseen-series fallback was used."""
    horizon = log_forecast.shape[1]
    repeated = panel.keys[np.repeat(series, horizon)]
    dates = np.tile(panel.dates[origin : origin + horizon], len(series))
    return repeated.with_columns(
        pl.Series("date", dates),
        pl.Series(value_name, np.expm1(log_forecast.reshape(-1).astype(np.float64))),
        pl.Series("fallback", np.repeat(np.asarray(fallback, bool), horizon)),
    )


def predict(
    model_path: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    horizon: int | None = None,
    batch_size: int | None = None,
    cache_dir: str | None = None,
    data_options: dict | None = None,
    device: str | None = None,
    precision: str | None = None,
) -> dict:
    """Forecast every series of ``data`` for ``horizon`` periods after its last observed period."""
    out = Path(out)
    if out.suffix not in (".parquet", ".csv"):
        raise UsageError(f"--out must end in .parquet or .csv, not {out.name}")
    with FileLock(out.with_name(out.name + ".lock"), what=str(out)):
        started = time.perf_counter()
        loaded = open_model(model_path, device, precision)
        horizon = loaded.horizon if horizon is None else horizon
        if not 1 <= horizon <= loaded.horizon:
            raise UsageError(f"--horizon must be 1..{loaded.horizon} (the model forecasts at most {loaded.horizon} periods), not {horizon}")  # fmt: skip
        panel = load_panel(data, loaded.data_config(cache_dir, data_options), future_periods=horizon)
        loaded_at = time.perf_counter()
        maker = loaded.maker(panel, horizon)
        series = np.arange(panel.n_series)
        origin = panel.n_observed
        log_forecast = forecast_log(loaded, maker, series, origin, batch_size=batch_size)
        unseen_identity = (maker.static[:, maker.identity_columns] == 0).any(axis=1)
        no_history = panel.first_period >= origin
        value_name = "unit_sales" if panel.kind == "favorita" else loaded.features["data"]["value_col"]
        frame = forecast_frame(panel, series, origin, log_forecast, value_name, unseen_identity | no_history)
        with atomic_path(out) as temporary:
            if out.suffix == ".parquet":
                frame.write_parquet(temporary)
            else:
                frame.write_csv(temporary)
        summary = {
            "series": int(panel.n_series),
            "rows": frame.height,
            "first_date": str(panel.dates[origin]),
            "last_date": str(panel.dates[origin + horizon - 1]),
            "unseen_series": int(unseen_identity.sum()),
            "series_without_history": int(no_history.sum()),
            "load_seconds": round(loaded_at - started, 2),
            "forecast_seconds": round(time.perf_counter() - loaded_at, 2),
            "device": str(loaded.device),
            "precision": loaded.precision,
            "out": str(out),
        }
        log.info(
            f"forecast {summary['series']:,} series x {horizon} periods ({summary['first_date']}..{summary['last_date']}): "
            f"{summary['unseen_series']:,} unseen in training, {summary['series_without_history']:,} without history; "
            f"reading {summary['load_seconds']}s, forecasting {summary['forecast_seconds']}s -> {out}"
        )
        return summary
