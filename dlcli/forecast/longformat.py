"""Long-format input: one row per series and period, for data that is not Favorita.

Columns (names set by options): the series, the date, the target value, optional static
categorical columns (constant per series; the first value is used), optional numeric
inputs known in advance (``future_cols``: promotions, prices, planned events) and
optional numeric inputs observed only up to the present (``past_cols``). Rows whose
value is empty after the last observed period carry known inputs for the forecast (as
test.csv does for Favorita). Absent rows count as 0, as in sales data (``missing = zero``),
or as unrecorded periods that are never trained on nor scored (``missing = unknown``: NaN
in the panel); an empty, NaN or infinite value inside the observed span is an error unless
``fill_missing`` says how to fill it. Numeric static columns (store size, demographics)
become inputs constant over time. Daily or weekly periods, inferred from the dates or
given. Nixtla's columns (``unique_id``, ``ds``, ``y``) are recognised when the default
names are absent.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl

from dlcli.errors import InputError
from dlcli.forecast.calendar import calendar_features
from dlcli.forecast.data import (
    DataConfig,
    Features,
    Panel,
    bad_values,
    cached_build,
    check_values,
    codes_for,
    duplicate_rows,
    scatter,
)
from dlcli.forecast.tables import collect, header, scan_table

log = logging.getLogger("dlcli.forecast")

NIXTLA = ("unique_id", "ds", "y")  # the columns of Nixtla's statsforecast/neuralforecast long format


def _infer_frequency(days: np.ndarray, path: Path) -> str:
    """D when consecutive dates are a day apart somewhere, W when every gap is a multiple of 7 days.

    Dates that nearly all share one weekday (4 or more, 80%) are weekly data with a few dates off
    the grid, not daily data: ``_grid`` reports those dates instead of reading the data as daily.
    """
    if len(days) < 2:
        raise InputError("needs at least two distinct dates", path=path)
    gaps = np.diff(days)
    on_one_weekday = np.bincount(days % 7, minlength=7).max()
    if np.all(gaps % 7 == 0) or (on_one_weekday >= 4 and on_one_weekday >= 0.8 * len(days)):
        return "W"
    return "D"


def _grid(frame: pl.DataFrame, days: np.ndarray, config: DataConfig, path: Path) -> tuple[str, int, np.ndarray]:
    """The frequency, the first date and each row's period; a date off the weekly grid is an error naming it."""
    c = config
    unique_days = np.unique(days)
    frequency = _infer_frequency(unique_days, path) if c.frequency == "auto" else c.frequency
    step = 7 if frequency == "W" else 1
    if step == 7:
        weekday = int(np.bincount(unique_days % 7, minlength=7).argmax())  # the weekday most dates fall on
        off = (days % 7) != weekday
        if off.any():
            row = int(np.argmax(off))
            name = str(
                np.datetime64(int(unique_days[unique_days % 7 == weekday][0]), "D").astype(object).strftime("%A")
            )
            raise InputError(
                f"{int(off.sum()):,} rows are off the weekly grid of the other dates ({name}s), e.g. series "
                f"{frame[c.series_col][row]} on {np.datetime64(int(days[row]), 'D')}; fix those dates"
                + (", or pass --frequency D for daily data" if c.frequency == "auto" else ""),
                path=path,
            )
    first = int(unique_days[0])
    return frequency, first, (days - first) // step


def _core(path: Path, lazy: pl.LazyFrame, config: DataConfig):
    c = config
    frame = collect(lazy, path)
    if frame.height == 0:
        raise InputError("no rows", path=path)
    for column in (c.series_col, c.date_col):
        if frame[column].null_count():
            raise InputError(f"{frame[column].null_count():,} rows with an empty '{column}'", path=path)
    where = lambda row: f"series {frame[c.series_col][row]} on {frame[c.date_col][row]}"  # noqa: E731
    days = frame[c.date_col].cast(pl.Int32).to_numpy().astype(np.int64)
    frequency, first, periods = _grid(frame, days, c, path)
    series_codes, _ = codes_for(frame[c.series_col])
    shape = (int(series_codes.max()) + 1, int(periods.max()) + 1)
    keep = duplicate_rows(series_codes, periods, shape, path, c.duplicates, f"{c.series_col} and {c.date_col}", where)
    if keep is not None:
        frame, days, periods = frame.filter(keep), days[keep], periods[keep]
    observed = frame[c.value_col].is_not_null().to_numpy()
    if not observed.any():
        raise InputError(f"no row has a '{c.value_col}' value", path=path)
    # an empty value inside the observed span is missing; after it, the row carries known inputs for the forecast
    blank = ~observed & (periods <= periods[observed].max())
    bad, counts = bad_values(frame[c.value_col], blank)
    if check_values(bad, counts, c.value_col, path, c.fill_missing, where):
        if c.fill_missing == "drop":
            frame, days, periods = frame.filter(~bad), days[~bad], periods[~bad]
            if frame.height == 0:
                raise InputError(f"no row has a finite '{c.value_col}' value", path=path)
            frequency, first, periods = _grid(frame, days, c, path)
        else:
            frame = frame.with_columns(pl.when(pl.Series(bad)).then(0.0).otherwise(pl.col(c.value_col)).alias(c.value_col))  # fmt: skip
    for name in c.future_cols + c.past_cols + ([c.weight_col] if c.weight_col else []):
        bad, counts = bad_values(frame[name])  # inputs: empty is documented as 0 (weights: 1)
        if check_values(bad, counts, name, path, c.fill_missing, where, "counted as empty"):
            frame = frame.with_columns(pl.when(pl.Series(bad)).then(None).otherwise(pl.col(name)).alias(name))
    observed = frame[c.value_col].is_not_null().to_numpy()
    n_observed = int(periods[observed].max()) + 1
    n_total = int(periods.max()) + 1
    series_codes, series_names = codes_for(frame[c.series_col])
    index = series_codes - 1
    n_series = len(series_names)
    values = frame[c.value_col].fill_null(0.0).to_numpy()
    inside = periods < n_observed
    # missing = unknown: absent rows (and empty values) stay NaN, so nothing trains on or scores an unrecorded period
    background = np.nan if c.missing == "unknown" else 0.0
    recorded = inside & (observed if c.missing == "unknown" else True)
    arrays = {
        "values": scatter(
            index[recorded], periods[recorded], values[recorded], (n_series, n_observed), np.float32, background
        )
    }
    for name in c.future_cols:
        column = frame[name].fill_null(0.0).to_numpy()
        arrays[f"future__{name}"] = scatter(index, periods, column, (n_series, n_total), np.float32)
    for name in c.past_cols:
        column = frame[name].fill_null(0.0).to_numpy()
        arrays[f"past__{name}"] = scatter(
            index[inside], periods[inside], column[inside], (n_series, n_observed), np.float32
        )
    first_period = np.full(n_series, n_observed, np.int64)
    np.minimum.at(first_period, index[observed & inside], periods[observed & inside])
    arrays["first_period"] = first_period
    per_series = (
        frame.with_columns(pl.Series("_series", index))
        .group_by("_series")
        .agg(
            [
                pl.col(s).drop_nulls().first()
                for s in c.static_cols + c.static_numeric_cols + ([c.weight_col] if c.weight_col else [])
            ]
        )  # fmt: skip
        .sort("_series")
    )
    keys = pl.DataFrame({c.series_col: series_names})
    for name in c.static_cols:
        keys = keys.with_columns(per_series[name].cast(pl.String).alias(f"static__{name}"))
    for name in c.static_numeric_cols:  # constant per series: a known input at every period (standardised later)
        constant = per_series[name].fill_null(float(per_series[name].mean() or 0.0)).cast(pl.Float32).to_numpy()
        arrays[f"future__{name}"] = np.repeat(constant[:, None], n_total, axis=1)
    if c.weight_col:
        arrays["weights"] = per_series[c.weight_col].fill_null(1.0).cast(pl.Float32).to_numpy()
    meta = {
        "first_day": first,
        "frequency": frequency,
        "n_observed": n_observed,
        "n_future": n_total - n_observed,
        "facts": {"rows": frame.height, "negative": int((values < 0).sum())},
    }
    return arrays, meta, keys


def _recognise_nixtla(path: Path, config: DataConfig) -> None:
    """Nixtla's long format (``unique_id``, ``ds``, ``y``) when the default column names are absent.

    The names are set in ``config`` so that the run's checkpoint records them for predict.
    """
    defaults = DataConfig()
    names = (config.series_col, config.date_col, config.value_col)
    if names != (defaults.series_col, defaults.date_col, defaults.value_col):
        return
    found = set(header(path))
    if not set(names) <= found and set(NIXTLA) <= found:
        config.series_col, config.date_col, config.value_col = NIXTLA
        log.info(f"{path}: Nixtla's long format (series {NIXTLA[0]}, date {NIXTLA[1]}, value {NIXTLA[2]})")


def read_long(path: Path, config: DataConfig, *, future_periods: int = 0) -> Panel:
    c = config
    if path.suffix not in (".csv", ".parquet"):
        raise InputError("long-format data must be a .csv or .parquet file", path=path)
    _recognise_nixtla(path, c)
    extra = c.static_cols + c.future_cols + c.past_cols + ([c.weight_col] if c.weight_col else [])
    extra += c.static_numeric_cols
    columns = [c.series_col, c.date_col, c.value_col] + extra
    if len(set(columns)) != len(columns):
        raise InputError(
            "a column is named twice among the series, date, value, static, future, past and weight columns"
        )
    # dates are read as text and parsed from their first 10 characters, so "2017-01-01 00:00:00" works too
    schema = {c.series_col: pl.String, c.date_col: pl.String, c.value_col: pl.Float32}
    schema.update({name: pl.String for name in c.static_cols})
    schema.update({name: pl.Float32 for name in c.future_cols + c.past_cols + ([c.weight_col] if c.weight_col else [])})
    schema.update({name: pl.Float32 for name in c.static_numeric_cols})
    lazy = scan_table(path, schema, columns)
    if path.suffix == ".parquet":
        date = pl.col(c.date_col).cast(pl.String)
    else:
        date = pl.col(c.date_col)
    lazy = lazy.with_columns(date.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=True).alias(c.date_col))
    options = {"reader": "long", **{k: v for k, v in vars(c).items() if k != "cache_dir"}}
    arrays, meta, keys = cached_build(c, [path], options, lambda: _core(path, lazy, c))
    frequency = meta["frequency"]
    step = 7 if frequency == "W" else 1
    n_observed = int(meta["n_observed"])
    n_future = max(int(meta["n_future"]), future_periods)
    dates = np.datetime64(int(meta["first_day"]), "D") + step * np.arange(n_observed + n_future)
    static, vocab = {}, {}
    static[c.series_col], vocab[c.series_col] = codes_for(keys[c.series_col])
    for name in c.static_cols:
        static[name], vocab[name] = codes_for(keys[f"static__{name}"])
    n_series = keys.height
    weights = np.asarray(arrays["weights"], np.float32) if "weights" in arrays else np.ones(n_series, np.float32)
    calendar_names, calendar = calendar_features(dates, frequency)
    first_period = np.asarray(arrays["first_period"])
    return Panel(
        source=path,
        kind="long",
        frequency=frequency,
        dates=dates,
        n_observed=n_observed,
        keys=keys.select(c.series_col),
        values=arrays["values"],
        first_period=first_period,
        static=static,
        static_vocab=vocab,
        identity=[c.series_col],
        weights=weights,
        series_known={name: arrays[f"future__{name}"] for name in c.future_cols + c.static_numeric_cols},
        series_past={name: arrays[f"past__{name}"] for name in c.past_cols},
        time_known=Features(calendar_names, calendar),
        time_past=Features([], np.zeros((len(dates), 0), np.float32)),
        facts={
            **meta["facts"],
            "series": n_series,
            "periods": n_observed,
            "frequency": frequency,
            "first_date": str(dates[0]),
            "last_date": str(dates[n_observed - 1]),
            "new_series": int(np.sum(first_period >= n_observed)),
        },
    )
