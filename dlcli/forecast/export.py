"""Favorita files as one long-format table (series_id, date, value, ...), daily or weekly.

Gives users whose data is not Favorita a worked example of the long format, and lets
the long-format path be tested on the same simulated world.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import polars as pl

from dlcli.errors import UsageError
from dlcli.files import atomic_path
from dlcli.forecast.favorita import _table
from dlcli.forecast.tables import collect


def favorita_to_long(folder: str | Path, out: str | Path, frequency: str = "D") -> int:
    """Write ``out`` (.csv or .parquet): series_id, date, value, onpromotion, family, weight; return its rows.

    Daily: test rows become future rows (empty value, known promotion). Weekly: the sales of
    each whole Monday-to-Sunday week of train.csv, with the share of promoted days.
    """
    folder, out = Path(folder), Path(out)
    if out.suffix not in (".csv", ".parquet"):
        raise UsageError(f"the long-format file must end in .csv or .parquet, not {out.name}")
    if frequency not in ("D", "W"):
        raise UsageError(f"frequency must be D or W, not {frequency!r}")
    train_path, train = _table(folder, "train")
    items_path, items = _table(folder, "items")
    series_id = pl.concat_str([pl.col("store_nbr"), pl.col("item_nbr")], separator="-").alias("series_id")
    promotion = pl.col("onpromotion").fill_null(False).cast(pl.Float32).alias("onpromotion")
    frames = [train.select(series_id, "item_nbr", "date", pl.col("unit_sales").alias("value"), promotion)]
    found = _table(folder, "test", required=False) if frequency == "D" else None
    if found is not None:
        frames.append(
            found[1].select(series_id, "item_nbr", "date", pl.lit(None, pl.Float32).alias("value"), promotion)
        )
    if frequency == "W":  # whole Monday-to-Sunday weeks of train.csv only (a partial last week would look like a slump)
        last = collect(train.select(pl.col("date").max()), train_path).item()
        complete_until = last if last.weekday() == 6 else last - datetime.timedelta(days=last.weekday() + 1)
        rows = (
            frames[0]
            .filter(pl.col("date") <= complete_until)
            .group_by("series_id", "item_nbr", pl.col("date").dt.truncate("1w"))
            .agg(pl.col("value").sum(), pl.col("onpromotion").mean())
        )
    else:
        rows = pl.concat(frames)
    table = collect(
        rows.join(items.select("item_nbr", "family", "perishable"), on="item_nbr", how="left")
        .with_columns(pl.when(pl.col("perishable") == 1).then(1.25).otherwise(1.0).alias("weight"))
        .select("series_id", "date", "value", "onpromotion", "family", "weight")
        .sort("series_id", "date"),
        train_path,
    )
    del items_path
    with atomic_path(out) as temporary:
        if out.suffix == ".parquet":
            table.write_parquet(temporary)
        else:
            table.write_csv(temporary)
    return table.height
