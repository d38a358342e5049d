"""The Corporación Favorita files as published, with their quirks, into a Panel.

Quirks handled: days without sales have no row (they become 0); ``unit_sales`` can be
negative (returns: kept in the arrays, clipped to 0 for the log1p target); ``onpromotion``
is empty before 2014-04 (0 in the +1/-1/0 encoding, as for absent rows); stores are
closed on Christmas so that date has no rows at all (the calendar is filled); oil prices
are missing on weekends and some weekdays (carried forward); holidays can be transferred
(the ``Transfer`` row counts, the original does not), regional or local (per store);
items and stores start selling late, and ``test.csv`` can hold store-items never sold
before (they get a series with an empty history).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl

from dlcli.errors import InputError
from dlcli.forecast.calendar import NATIONAL_TYPES, calendar_features, holiday_features
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
from dlcli.forecast.tables import collect, find_table, scan_table

log = logging.getLogger("dlcli.forecast")

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "train": {
        "id": pl.Int64,
        "date": pl.Date,
        "store_nbr": pl.Int32,
        "item_nbr": pl.Int32,
        "unit_sales": pl.Float32,
        "onpromotion": pl.Boolean,
    },
    "test": {"id": pl.Int64, "date": pl.Date, "store_nbr": pl.Int32, "item_nbr": pl.Int32, "onpromotion": pl.Boolean},
    "items": {"item_nbr": pl.Int32, "family": pl.String, "class": pl.Int32, "perishable": pl.Int8},
    "stores": {"store_nbr": pl.Int32, "city": pl.String, "state": pl.String, "type": pl.String, "cluster": pl.Int32},
    "oil": {"date": pl.Date, "dcoilwtico": pl.Float64},
    "holidays_events": {
        "date": pl.Date,
        "type": pl.String,
        "locale": pl.String,
        "locale_name": pl.String,
        "description": pl.String,
        "transferred": pl.Boolean,
    },
    "transactions": {"date": pl.Date, "store_nbr": pl.Int32, "transactions": pl.Float64},
}
COLUMNS = {
    "train": ["date", "store_nbr", "item_nbr", "unit_sales", "onpromotion"],
    "test": ["date", "store_nbr", "item_nbr", "onpromotion"],
    "items": ["item_nbr", "family", "class", "perishable"],
    "stores": ["store_nbr", "city", "state", "type", "cluster"],
    "oil": ["date", "dcoilwtico"],
    "holidays_events": ["date", "type", "locale", "locale_name", "transferred"],
    "transactions": ["date", "store_nbr", "transactions"],
}
STATIC_FIELDS = ("store_nbr", "item_nbr", "city", "state", "type", "cluster", "family", "class", "perishable")
IDENTITY = ["store_nbr", "item_nbr"]


def is_favorita(path: Path) -> bool:
    return path.is_dir() and find_table(path, "train", required=False) is not None


def _table(folder: Path, name: str, *, required: bool = True) -> tuple[Path, pl.LazyFrame] | None:
    path = find_table(folder, name, required=required)
    if path is None:
        return None
    return path, scan_table(path, SCHEMAS[name], COLUMNS[name])


def _promotion() -> pl.Expr:
    """onpromotion as 1, and 0 when False, empty or absent.

    The reference encodes +1 / -1 / 0, but in train.csv a False exists only on days with
    sales, so a known-future -1 would tell a model "something sold that day"; test.csv
    lists every store-item, so that signal vanishes exactly when forecasts matter.
    """
    return pl.col("onpromotion").fill_null(False).cast(pl.Int8).alias("promo")


def _lookup(numbers: np.ndarray, known: np.ndarray, what: str, path: Path) -> np.ndarray:
    """Index of each number in the sorted array ``known``; numbers not in it are an error."""
    if len(numbers) and (numbers.min() < 0 or numbers.max() > 50_000_000):
        index = np.searchsorted(known, numbers)
        index = np.minimum(index, len(known) - 1)
        bad = known[index] != numbers
    else:
        table = np.full(int(max(known.max(), numbers.max() if len(numbers) else 0)) + 1, -1, np.int32)
        table[known] = np.arange(len(known), dtype=np.int32)
        index = table[numbers]
        bad = index < 0
    if bad.any():
        examples = ", ".join(str(n) for n in np.unique(numbers[bad])[:5])
        raise InputError(
            f"{int(bad.sum()):,} rows with a {what} that the {what.split('_')[0]}s table lacks (e.g. {examples})",
            path=path,
        )
    return index


def _where(frame: pl.DataFrame):
    """Describes one row of a sales table for an error message."""
    return lambda row: (
        f"store {frame['store_nbr'][row]} item {frame['item_nbr'][row]} on {np.datetime64(int(frame['day'][row]), 'D')}"
    )


def _core(train_path, train, test_path, test, stores: pl.DataFrame, items: pl.DataFrame, config: DataConfig):
    """The large arrays: sales [S, T] and promotions [S, T + F], from every row of train (and test)."""
    frame = collect(
        train.select(
            pl.col("date").cast(pl.Int32).alias("day"),
            "store_nbr",
            "item_nbr",
            "unit_sales",
            "onpromotion",
            _promotion(),
        ),
        train_path,
    )
    if frame.height == 0:
        raise InputError("no rows", path=train_path)
    if frame["day"].null_count() or frame["store_nbr"].null_count() or frame["item_nbr"].null_count():
        raise InputError("rows with an empty date, store_nbr or item_nbr", path=train_path)
    bad, counts = bad_values(frame["unit_sales"], frame["unit_sales"].is_null().to_numpy())
    if check_values(bad, counts, "unit_sales", train_path, config.fill_missing, _where(frame)):
        if config.fill_missing == "zero":
            frame = frame.with_columns(pl.when(pl.Series(bad)).then(0.0).otherwise(pl.col("unit_sales")).alias("unit_sales"))  # fmt: skip
        elif (frame := frame.filter(~bad)).height == 0:
            raise InputError("no row has a finite 'unit_sales' value", path=train_path)
    first, last = int(frame["day"].min()), int(frame["day"].max())
    test_frame = None
    if test is not None:
        test_frame = collect(
            test.select(pl.col("date").cast(pl.Int32).alias("day"), "store_nbr", "item_nbr", _promotion()), test_path
        ).drop_nulls(["day", "store_nbr", "item_nbr"])
        if test_frame.height and int(test_frame["day"].min()) <= last:
            raise InputError(f"test dates must follow train's last date ({np.datetime64(last, 'D')})", path=test_path)
    n_observed = last - first + 1
    n_future = int(test_frame["day"].max()) - last if test_frame is not None and test_frame.height else 0
    store_numbers, item_numbers = stores["store_nbr"].to_numpy(), items["item_nbr"].to_numpy()
    n_items = len(item_numbers)

    def pair_keys(table: pl.DataFrame, path: Path) -> np.ndarray:
        store_index = _lookup(table["store_nbr"].to_numpy(), store_numbers, "store_nbr", path).astype(np.int64)
        item_index = _lookup(table["item_nbr"].to_numpy(), item_numbers, "item_nbr", path)
        return store_index * n_items + item_index

    train_keys = pair_keys(frame, train_path)
    present = np.zeros(len(store_numbers) * n_items, bool)
    present[train_keys] = True
    in_test = np.zeros_like(present)
    if test_frame is not None and test_frame.height:
        test_keys = pair_keys(test_frame, test_path)
        in_test[test_keys] = True
        present |= in_test
    series_of_key = (np.cumsum(present) - 1).astype(np.int32)
    n_series = int(present.sum())
    train_series = series_of_key[train_keys]
    del train_keys
    days = (frame["day"].to_numpy() - first).astype(np.int64)
    what = "date, store_nbr and item_nbr"
    keep = duplicate_rows(train_series, days, (n_series, n_observed), train_path, config.duplicates, what, _where(frame))  # fmt: skip
    if keep is not None:
        frame, train_series, days = frame.filter(keep), train_series[keep], days[keep]
    values = scatter(train_series, days, frame["unit_sales"].to_numpy(), (n_series, n_observed), np.float32)
    promo = scatter(train_series, days, frame["promo"].to_numpy(), (n_series, n_observed + n_future), np.int8)
    facts = {
        "rows": frame.height,
        "returns": int((frame["unit_sales"] < 0).sum()),
        "promotion_empty": int(frame["onpromotion"].null_count()),
    }
    del frame, train_series, days
    if test_frame is not None and test_frame.height:
        test_series = series_of_key[test_keys]
        test_days = (test_frame["day"].to_numpy() - first).astype(np.int64)
        shape = (n_series, n_observed + n_future)
        keep = duplicate_rows(test_series, test_days, shape, test_path, config.duplicates, what, _where(test_frame))
        if keep is not None:
            test_frame, test_series, test_days = test_frame.filter(keep), test_series[keep], test_days[keep]
        flat = promo.reshape(-1)
        flat[test_series.astype(np.int64) * promo.shape[1] + test_days] = test_frame["promo"].to_numpy()
        facts["test_rows"] = test_frame.height
    pairs = np.flatnonzero(present)
    keys = pl.DataFrame({"store_nbr": store_numbers[pairs // n_items], "item_nbr": item_numbers[pairs % n_items]})
    first_period = np.full(n_series, n_observed, np.int64)
    for begin in range(0, n_series, 8192):  # first day with a row (absent rows are zero-sales days)
        block = values[begin : begin + 8192] != 0
        has = block.any(axis=1)
        first_period[begin : begin + 8192][has] = block[has].argmax(axis=1)
    arrays = {"values": values, "promo": promo, "first_period": first_period, "in_test": in_test[pairs]}
    meta = {"first_day": first, "n_observed": n_observed, "n_future": n_future, "facts": facts}
    return arrays, meta, keys


def read_favorita(folder: Path, config: DataConfig, *, future_periods: int = 0) -> Panel:
    train_path, train = _table(folder, "train")
    found_test = _table(folder, "test", required=False)
    test_path, test = found_test if found_test else (None, None)
    tables = {}
    for name in ("items", "stores", "oil", "holidays_events", "transactions"):
        path, lazy = _table(folder, name)
        tables[name] = (path, lazy)
    items = collect(tables["items"][1], tables["items"][0]).unique("item_nbr", keep="first").sort("item_nbr")
    stores = collect(tables["stores"][1], tables["stores"][0]).unique("store_nbr", keep="first").sort("store_nbr")
    if items.height == 0 or stores.height == 0:
        raise InputError("no rows", path=tables["items"][0] if items.height == 0 else tables["stores"][0])
    files = [train_path] + ([test_path] if test_path else []) + [tables["items"][0], tables["stores"][0]]
    arrays, meta, keys = cached_build(
        config,
        files,
        {"reader": "favorita", "fill_missing": config.fill_missing, "duplicates": config.duplicates},
        lambda: _core(train_path, train, test_path, test, stores, items, config),
    )
    first_day = np.datetime64(int(meta["first_day"]), "D")
    n_observed, n_future = int(meta["n_observed"]), max(int(meta["n_future"]), future_periods)
    dates = first_day + np.arange(n_observed + n_future)

    # static categories per series, from the items and stores tables
    item_rows = np.searchsorted(items["item_nbr"].to_numpy(), keys["item_nbr"].to_numpy())
    store_rows = np.searchsorted(stores["store_nbr"].to_numpy(), keys["store_nbr"].to_numpy())
    static_columns = {"store_nbr": keys["store_nbr"], "item_nbr": keys["item_nbr"]}
    for name in ("city", "state", "type", "cluster"):
        static_columns[name] = stores[name].gather(store_rows)
    for name in ("family", "class", "perishable"):
        static_columns[name] = items[name].gather(item_rows)
    static, vocab = {}, {}
    for name in STATIC_FIELDS:
        static[name], vocab[name] = codes_for(static_columns[name])
    perishable = static_columns["perishable"].fill_null(0).to_numpy() > 0
    weights = np.where(perishable, config.perishable_weight, 1.0).astype(np.float32)

    # features of every day: calendar and national holidays (known ahead), oil (observed)
    holidays_path, holidays_lazy = tables["holidays_events"]
    holidays = collect(holidays_lazy, holidays_path).drop_nulls(["date", "type", "locale"])
    national, regional, local = holiday_features(holidays, dates, stores["city"].to_numpy(), stores["state"].to_numpy())
    calendar_names, calendar = calendar_features(dates, "D")
    time_known = Features(
        calendar_names + [f"national_{k.lower().replace(' ', '_')}" for k in NATIONAL_TYPES],
        np.concatenate([calendar, national], axis=1),
    )
    oil_path, oil_lazy = tables["oil"]
    oil = collect(oil_lazy.drop_nulls(), oil_path)
    bad, counts = bad_values(oil["dcoilwtico"])  # zero or drop: the price counts as absent (carried forward)
    where = lambda row: f"on {oil['date'][row]}"  # noqa: E731
    if check_values(bad, counts, "dcoilwtico", oil_path, config.fill_missing, where, "carried forward"):
        oil = oil.filter(~bad)
    oil_days = (oil["date"].cast(pl.Int32).to_numpy() - int(meta["first_day"])).astype(np.int64)
    inside = (oil_days >= 0) & (oil_days < len(dates))
    price = np.full(len(dates), np.nan)
    price[oil_days[inside]] = oil["dcoilwtico"].to_numpy()[inside]
    earlier = oil_days < 0
    if earlier.any():  # the last price before the first day starts the carry-forward
        price[0] = (
            price[0] if not np.isnan(price[0]) else oil["dcoilwtico"].to_numpy()[earlier][np.argmax(oil_days[earlier])]
        )
    price = pl.Series(price).fill_nan(None).forward_fill().backward_fill().fill_null(50.0).to_numpy()
    time_past = Features(["oil"], ((price - 50.0) / 50.0).astype(np.float32)[:, None])

    # per store: regional/local holidays (known ahead), transactions (observed): log1p - 7, 0 where missing
    transactions_path, transactions_lazy = tables["transactions"]
    transactions = collect(transactions_lazy.drop_nulls(), transactions_path)
    bad, counts = bad_values(transactions["transactions"])  # zero or drop: the count is absent (0)
    where = lambda row: f"store {transactions['store_nbr'][row]} on {transactions['date'][row]}"  # noqa: E731
    if check_values(bad, counts, "transactions", transactions_path, config.fill_missing, where, "counted as absent"):
        transactions = transactions.filter(~bad)
    t_days = (transactions["date"].cast(pl.Int32).to_numpy() - int(meta["first_day"])).astype(np.int64)
    t_store = np.searchsorted(stores["store_nbr"].to_numpy(), transactions["store_nbr"].to_numpy())
    t_store = np.minimum(t_store, stores.height - 1)
    inside = (
        (t_days >= 0)
        & (t_days < n_observed)
        & (stores["store_nbr"].to_numpy()[t_store] == transactions["store_nbr"].to_numpy())
    )
    counts = np.zeros((stores.height, len(dates)), np.float32)
    counts[t_store[inside], t_days[inside]] = np.log1p(transactions["transactions"].to_numpy()[inside]) - 7.0
    group_known = Features(["regional_holiday", "local_holiday"], np.stack([regional, local], axis=2))
    group_past = Features(["transactions"], counts[:, :, None])

    facts = dict(meta["facts"])
    facts.update(
        series=int(keys.height),
        days=n_observed,
        first_date=str(dates[0]),
        last_date=str(dates[n_observed - 1]),
        new_series_in_test=int(np.sum(np.asarray(arrays["first_period"]) >= n_observed)),
    )
    return Panel(
        source=folder,
        kind="favorita",
        frequency="D",
        dates=dates,
        n_observed=n_observed,
        keys=keys,
        values=arrays["values"],
        first_period=np.asarray(arrays["first_period"]),
        static=static,
        static_vocab=vocab,
        identity=list(IDENTITY),
        weights=weights,
        series_known={"onpromotion": arrays["promo"]},
        series_past={},
        time_known=time_known,
        time_past=time_past,
        group=store_rows.astype(np.int64),
        group_known=group_known,
        group_past=group_past,
        facts=facts,
    )
