"""A simulator that writes Corporación Favorita files (same names, columns and quirks) at any scale.

The generating process (docs/forecast.md gives it in full) is a log-linear demand model
with a persistent random state, sampled through a Poisson:

    log m[s,t]  = base[s] + store[st(s), t] + family[f(s), t] + common[t] + lift[s] promo[s,t] + ramp[s,t]
    z[s,t]      = phi z[s,t-1] + N(0, sigma_z^2)                     (a slowly moving level per series)
    lambda[s,t] = exp(log m[s,t] + z[s,t] + eps),  eps ~ N(-sigma[s]^2 / 2, sigma[s]^2)   (daily overdispersion)
    y[s,t]      ~ Poisson(lambda), then 0 on stock-outs, a negative number on returns, nothing when closed

``base`` holds the long-tailed store, item and store-item volumes; ``store`` the store
trend and regional/local holidays; ``family`` the weekly profile, yearly season, year-end
peak and national holidays (linear in the features of ``calendar.py``); ``common`` the
paydays and the oil price. Because the process is known, ``truth.npz`` lets ``evaluate``
compute the best achievable forecast (``oracle.py``) for any recent forecast origin.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from dlcli.console import progress
from dlcli.errors import ConfigError
from dlcli.files import atomic_path, write_text_atomic
from dlcli.forecast.calendar import NATIONAL_TYPES, calendar_features, holiday_features
from dlcli.forecast.world import (
    FAMILIES,
    FESTIVE,
    HOLIDAY_EFFECTS,
    WEEKLY_PROFILE,
    closed_days,
    make_holidays,
    make_items,
    make_stores,
    oil_walk,
)

log = logging.getLogger("dlcli.forecast")

# (family, items in the real items.csv, perishable)
PROMO_RECORDED_FROM = np.datetime64("2014-04-01")  # onpromotion is empty before this day, as in the real file

SCALES = {
    "sample": dict(stores=4, items=20, start="2014-01-01"),
    "small": dict(stores=10, items=100),
    "realistic": dict(stores=54, items=200),
    "full": dict(stores=54, items=5000),  # ~125M rows and ~200k store-items, as the real files (denser, on 4,100 items)
}


@dataclass
class SimulationConfig:
    stores: int = 54  # at most 54 (the real stores' places)
    items: int = 4000  # items in items.csv (the real file has 4,100); 1% more launch in test.csv only
    start: str = "2013-01-01"  # first day of train.csv
    end: str = "2017-08-15"  # last day of train.csv (test.csv covers the next test_days)
    test_days: int = 16
    seed: int = 0
    format: str = "csv"  # csv | parquet (train.* only; the small files stay CSV)
    truth_days: int = 112  # days of latent state kept in truth.npz for the oracle (before the end)
    block_days: int = 28  # days generated at a time (memory: series x block_days)
    level: float = -0.85  # log-scale constant: sets the share of zero days (~52% active grid, like the real data)
    ar_phi: float = 0.985  # persistence of the latent level z
    ar_sigma: float = 0.035  # innovation of z (stationary sd = ar_sigma / sqrt(1 - phi^2) ~ 0.2)
    stockout_rate: float = 0.02  # share of active days with nothing on the shelf (sales 0)
    return_rate: float = 0.001  # share of active days recorded as net returns (negative unit_sales)

    def __post_init__(self) -> None:
        if not 1 <= self.stores <= 54:
            raise ConfigError("stores must be between 1 and 54 (the real stores' places)")
        if self.items < 1 or self.test_days < 1 or self.block_days < 1:
            raise ConfigError("items, test_days and block_days must be at least 1")
        if self.format not in ("csv", "parquet"):
            raise ConfigError(f"format must be csv or parquet, not {self.format!r}")
        if np.datetime64(self.end) - np.datetime64(self.start) < 60:
            raise ConfigError("the simulated span must cover at least 60 days")


def _series(rng, cfg, stores: pl.DataFrame, items: pl.DataFrame, n_days: int, n_train: int) -> dict:
    """Which store carries which item, when each pair starts and stops, and its static parameters."""
    n_stores, n_items = stores.height, items.height
    store_size = rng.normal(0, 0.45, n_stores)
    carried = rng.random((n_stores, n_items)) < np.clip(0.72 + 0.25 * store_size, 0.4, 0.98)[:, None]
    store_index, item_index = np.nonzero(carried)  # sorted by store then item: the files' row order
    launch_item = np.where(rng.random(n_items) < 0.15, rng.integers(1, n_train, n_items), 0)
    newest = rng.choice(n_items, size=max(1, round(0.01 * n_items)), replace=False)
    launch_item[newest] = rng.integers(n_train, n_days, len(newest))  # items first sold during test.csv
    stop_item = np.where(rng.random(n_items) < 0.06, rng.integers(n_train // 5, n_train, n_items), n_days)
    stop_item[newest] = n_days
    store_open = np.zeros(n_stores, np.int64)
    late = rng.choice(n_stores, size=min(n_stores - 1, max(1, n_stores // 10)), replace=False) if n_stores > 1 else []
    store_open[late] = rng.integers(n_train // 4, n_train - 120, len(late))
    family_names = [name for name, _, _ in FAMILIES]
    family = np.array([family_names.index(f) for f in items["family"]])
    family_level = rng.normal(0, 0.5, len(FAMILIES))
    item_level = rng.normal(0, 1.3, n_items) + family_level[family]
    n = len(store_index)
    staggered = (launch_item[item_index] > 0) & (launch_item[item_index] < n_train)  # stores adopt new items over weeks
    launch = launch_item[item_index] + rng.integers(0, 21, n) * staggered
    return {
        "store": store_index,
        "item": item_index,
        "family": family[item_index],
        "start": np.maximum(launch, store_open[store_index]),
        "launched": launch,
        "stop": stop_item[item_index],
        "base": cfg.level + store_size[store_index] + item_level[item_index] + rng.normal(0, 0.35, n),
        "lift": np.clip(rng.normal(0.55, 0.2, n_items)[item_index] + rng.normal(0, 0.1, n), 0.05, None),
        "promo_rate": rng.beta(0.7, 40, n_items)[item_index],
        "sigma": rng.uniform(0.2, 0.45, n),
        "store_size": store_size,
        "store_open": store_open,
    }


def _day_effects(rng, cfg, dates, stores, holidays, oil):
    """Effects shared by many series: [stores, T] (trend, local holidays), [families, T], [T]."""
    n_days = len(dates)
    names, calendar = calendar_features(dates, "D")
    column = {name: calendar[:, i] for i, name in enumerate(names)}
    weekday = np.argmax(calendar[:, [names.index(f"weekday_{d}") for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")]], axis=1)  # fmt: skip
    national, regional, local = holiday_features(holidays, dates, stores["city"].to_numpy(), stores["state"].to_numpy())
    years = (np.arange(n_days) - n_days / 2) / 365.25
    store_effect = rng.normal(0.03, 0.04, stores.height)[:, None] * years + 0.08 * (regional + local)
    day_of_year = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
    december = dates.astype("datetime64[M]").astype(np.int64) % 12 == 11
    day_of_month = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    run_up = np.where(december & (day_of_month <= 24), day_of_month / 24.0, 0.0)
    run_up += np.where(december & (day_of_month > 25), 0.4, 0.0)
    families = []
    for name, _, _ in FAMILIES:
        strength, amplitude, phase = rng.uniform(0.5, 1.5), rng.uniform(0.02, 0.15), rng.uniform(0, 2 * np.pi)
        peak = rng.uniform(0.15, 0.45) * (2.0 if name in FESTIVE else 1.0)
        holiday_scale = rng.uniform(0.5, 1.5)
        effect = strength * WEEKLY_PROFILE[weekday] + amplitude * np.sin(2 * np.pi * day_of_year / 365.25 - phase)
        effect += peak * run_up + holiday_scale * national @ np.array([HOLIDAY_EFFECTS[k] for k in NATIONAL_TYPES])
        families.append(effect)
    common = 0.05 * column["payday"] - 0.04 * (oil - 50) / 50
    return store_effect, np.array(families), common


def _bool_text(column: str) -> pl.Expr:
    """Write booleans as the real files do: True / False / empty."""
    return pl.when(pl.col(column)).then(pl.lit("True")).when(~pl.col(column)).then(pl.lit("False")).alias(column)


def simulate(cfg: SimulationConfig, out: str | Path) -> dict:
    """Write the Favorita files of one simulated world into ``out``; return a summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    first, last = np.datetime64(cfg.start, "D"), np.datetime64(cfg.end, "D")
    dates = np.arange(first, last + cfg.test_days + 1, dtype="datetime64[D]")
    n_days, n_train = len(dates), len(dates) - cfg.test_days
    stores, items = make_stores(rng, cfg.stores), make_items(rng, cfg.items)
    year_of = lambda d: int(d.astype("datetime64[Y]").astype(np.int64)) + 1970  # noqa: E731
    holidays = make_holidays(rng, year_of(first), year_of(dates[-1]), stores)
    oil = oil_walk(rng, n_days)
    series = _series(rng, cfg, stores, items, n_days, n_train)
    store_effect, family_effect, common = _day_effects(rng, cfg, dates, stores, holidays, oil)
    closed = closed_days(dates, stores.height, series["store_open"], rng)
    n_series = len(series["store"])
    store_nbr = stores["store_nbr"].to_numpy()[series["store"]]
    item_nbr = items["item_nbr"].to_numpy()[series["item"]]
    store_starts = np.flatnonzero(np.r_[True, np.diff(series["store"]) != 0])
    truth_from = max(0, n_train - cfg.truth_days)
    truth = {k: np.zeros((n_series, n_days - truth_from), np.float32) for k in ("log_mean", "z", "sales")}
    truth["active"] = np.zeros((n_series, n_days - truth_from), np.uint8)

    phi, sigma_z = cfg.ar_phi, cfg.ar_sigma
    z = rng.normal(0, sigma_z / math.sqrt(1 - phi**2), n_series)
    promo_left = np.zeros(n_series, np.int64)
    transactions_scale = rng.normal(math.log(6.0), 0.2, stores.height)
    ids, blocks, test_blocks, transactions = 0, [], [], []
    suffix = "parquet" if cfg.format == "parquet" else "csv"
    with atomic_path(out / f"train.{suffix}") as train_path, open(train_path, "wb") as train_file:
        with progress(transient=True) as bar:
            task = bar.add_task("simulating", total=n_days, info=f"{n_series:,} series")
            for block_start in range(0, n_days, cfg.block_days):
                days = np.arange(block_start, min(n_days, block_start + cfg.block_days))
                width = len(days)
                promo = np.zeros((n_series, width), bool)
                zs = np.empty((n_series, width))
                active = (days[None, :] >= series["start"][:, None]) & (days[None, :] < series["stop"][:, None])
                for j in range(width):
                    z = phi * z + rng.normal(0, sigma_z, n_series)
                    zs[:, j] = z
                    starting = (promo_left == 0) & (rng.random(n_series) < series["promo_rate"])
                    promo_left[starting] = 2 + rng.poisson(4, int(starting.sum()))
                    promo[:, j] = (promo_left > 0) & active[:, j]
                    promo_left = np.maximum(promo_left - 1, 0)
                age = days[None, :] - series["launched"][:, None]
                ramp = np.where(series["launched"][:, None] > 0, -1.0 * np.exp(-np.maximum(age, 0) / 20.0), 0.0)
                log_mean = (
                    series["base"][:, None]
                    + store_effect[series["store"]][:, days]
                    + family_effect[series["family"]][:, days]
                    + common[days][None, :]
                    + series["lift"][:, None] * promo
                    + ramp
                )
                sigma = series["sigma"][:, None]
                rate = np.exp(log_mean + zs + rng.normal(-(sigma**2) / 2, sigma, (n_series, width)))
                is_open = active & ~closed[series["store"]][:, days]
                sales = rng.poisson(np.where(is_open, rate, 0.0)).astype(np.float32)
                sales[rng.random(sales.shape) < cfg.stockout_rate] = 0.0
                returns = is_open & (rng.random(sales.shape) < cfg.return_rate)
                sales[returns] = -rng.integers(1, 4, int(returns.sum())).astype(np.float32)
                in_truth = days >= truth_from
                if in_truth.any():
                    columns = days[in_truth] - truth_from
                    truth["log_mean"][:, columns] = log_mean[:, in_truth]
                    truth["z"][:, columns] = zs[:, in_truth]
                    truth["sales"][:, columns] = sales[:, in_truth]
                    truth["active"][:, columns] = is_open[:, in_truth]
                train_days = days < n_train
                if train_days.any():
                    visits = np.add.reduceat(np.where(is_open, np.exp(log_mean), 0.0), store_starts, axis=0)
                    transactions.append((days[train_days], visits[:, train_days]))
                    frame = _rows(
                        dates,
                        days[train_days],
                        sales[:, train_days],
                        promo[:, train_days] & is_open[:, train_days],
                        store_nbr,
                        item_nbr,
                    )
                    frame = frame.with_columns(pl.int_range(ids, ids + frame.height, dtype=pl.Int64).alias("id"))
                    ids += frame.height
                    if cfg.format == "csv":
                        frame.select(
                            "id", "date", "store_nbr", "item_nbr", "unit_sales", _bool_text("onpromotion")
                        ).write_csv(train_file, include_header=block_start == 0)
                    else:
                        blocks.append(frame.select("id", "date", "store_nbr", "item_nbr", "unit_sales", "onpromotion"))
                if (~train_days).any():
                    test_days = days[~train_days]
                    wanted = (test_days[None, :] >= series["launched"][:, None]) & (
                        test_days[None, :] < series["stop"][:, None]
                    )
                    test_blocks.append((test_days, wanted, promo[:, ~train_days]))
                bar.update(task, advance=width)
        if cfg.format == "parquet":
            train_file.close()
            pl.concat(blocks).write_parquet(train_path)
    train_rows = ids
    test_rows = _write_test(out, dates, test_blocks, store_nbr, item_nbr, ids)
    _write_tables(out, rng, dates[:n_train], stores, items, holidays, oil[:n_train], transactions, store_starts,
                  series["store"], transactions_scale)  # fmt: skip
    with atomic_path(out / "truth.npz") as path, open(path, "wb") as handle:
        np.savez(
            handle,
            store_nbr=store_nbr,
            item_nbr=item_nbr,
            dates=dates[truth_from:].astype("datetime64[D]").astype(np.int64),
            sigma=series["sigma"].astype(np.float32),
            ar_phi=np.float64(phi),
            ar_sigma=np.float64(sigma_z),
            stockout_rate=np.float64(cfg.stockout_rate),
            return_rate=np.float64(cfg.return_rate),
            n_train=np.int64(n_train - truth_from),
            **truth,
        )
    summary = {"config": asdict(cfg), "series": int(n_series), "train_rows": int(train_rows), "test_rows": test_rows}
    summary["train_days"] = int(n_train)
    write_text_atomic(out / "simulation.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _rows(dates, days, sales, promo, store_nbr, item_nbr) -> pl.DataFrame:
    """The block's rows ordered by date, store and item: days with sales, and promoted days once promotions are recorded.

    Zero-sales days are absent, as in the real file, except promoted ones: the real file
    flags promotions only on days with sales, so within it a promotion flag would give
    away that something sold; recording every promoted day keeps held-out periods of
    train.csv as informative as test.csv (which lists every store-item) and no more.
    """
    sales_by_day, promo_by_day = sales.T, promo.T  # [days, series]: date-major order
    recorded_day = dates[days] >= PROMO_RECORDED_FROM
    day_index, series_index = np.nonzero((sales_by_day != 0) | (promo_by_day & recorded_day[:, None]))
    recorded = recorded_day[day_index]
    return pl.DataFrame(
        {
            "date": dates[days][day_index],
            "store_nbr": store_nbr[series_index],
            "item_nbr": item_nbr[series_index],
            "unit_sales": sales_by_day[day_index, series_index],
            "onpromotion": pl.Series(promo_by_day[day_index, series_index]).zip_with(
                pl.Series(recorded), pl.Series([None], dtype=pl.Boolean)
            ),
        }
    )


def _write_test(out: Path, dates, test_blocks, store_nbr, item_nbr, first_id: int) -> int:
    frames = []
    for days, wanted, promo in test_blocks:
        by_day = wanted.T
        day_index, series_index = np.nonzero(by_day)
        frames.append(
            pl.DataFrame(
                {
                    "date": dates[days][day_index],
                    "store_nbr": store_nbr[series_index],
                    "item_nbr": item_nbr[series_index],
                    "onpromotion": promo.T[day_index, series_index],
                }
            )
        )
    test = pl.concat(frames)
    test = test.with_columns(pl.int_range(first_id, first_id + test.height, dtype=pl.Int64).alias("id"))
    with atomic_path(out / "test.csv") as path:
        test.select("id", "date", "store_nbr", "item_nbr", _bool_text("onpromotion")).write_csv(path)
    return test.height


def _write_tables(out, rng, dates, stores, items, holidays, oil, transactions, store_starts, store_of, scale) -> None:
    """items, stores, oil (weekdays only, a few gaps), holidays_events, transactions (a few store-days missing)."""
    for name, table in (("items", items), ("stores", stores)):
        with atomic_path(out / f"{name}.csv") as path:
            table.write_csv(path)
    weekday = (dates.astype(np.int64) + 3) % 7
    keep = weekday < 5
    price = np.where(rng.random(len(dates)) < 0.03, np.nan, np.round(oil, 2))
    oil_table = pl.DataFrame({"date": dates[keep], "dcoilwtico": price[keep]}).with_columns(
        pl.col("dcoilwtico").fill_nan(None)
    )
    with atomic_path(out / "oil.csv") as path:
        oil_table.write_csv(path)
    with atomic_path(out / "holidays_events.csv") as path:
        holidays.with_columns(_bool_text("transferred")).write_csv(path)
    stores_with_series = store_of[store_starts]
    frames = []
    for days, visits in transactions:
        count = np.exp(scale[stores_with_series][:, None] + 0.8 * np.log(np.maximum(visits, 1e-9)))
        count = np.round(count * np.exp(rng.normal(0, 0.05, count.shape)))
        keep = (visits > 0) & (rng.random(count.shape) > 0.01)
        store_index, day_index = np.nonzero(keep)
        frames.append(
            pl.DataFrame(
                {
                    "date": dates[days][day_index],
                    "store_nbr": stores["store_nbr"].to_numpy()[stores_with_series[store_index]],
                    "transactions": count[store_index, day_index].astype(np.int64),
                }
            )
        )
    with atomic_path(out / "transactions.csv") as path:
        pl.concat(frames).sort("date", "store_nbr").write_csv(path)
