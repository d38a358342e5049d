"""Dominick's orange juice (oj_weekly.parquet + stores.csv) -> one long-format parquet file for dlcli forecast.

Columns: series (store_brand), date (week start), units (the target), price / deal / feat
(known in advance: the store sets them), store and brand (static categories) and the
store demographics of stores.csv (numeric static). Weeks that have no row stay absent:
Dominick's did not record them, so the recipe reads the file with --missing unknown.
Usage: python recipes/forecast/dominicks_long.py DATA_FOLDER OUT.parquet
"""

import sys
from pathlib import Path

import polars as pl

DEMOGRAPHICS = ["AGE60", "EDUC", "ETHNIC", "INCOME", "HHLARGE", "WORKWOM", "HVAL150", "SSTRDIST", "SSTRVOL", "CPDIST5", "CPWVOL5"]  # fmt: skip


def main(folder: str, out: str) -> None:
    sales = pl.read_parquet(Path(folder) / "oj_weekly.parquet")
    stores = pl.read_csv(Path(folder) / "stores.csv").rename({"STORE": "store"})
    frame = (
        sales.join(stores, on="store", how="left")
        .select(
            "series",
            pl.col("date").cast(pl.String),
            pl.col("units").cast(pl.Float64),
            "price",
            pl.col("deal").cast(pl.Float64),
            "feat",
            pl.col("store").cast(pl.String),
            pl.col("brand").cast(pl.String),
            *[pl.col(name).cast(pl.Float64).alias(name.lower()) for name in DEMOGRAPHICS],
        )
        .sort("series", "date")
    )
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(out).with_suffix(".tmp.parquet")
    frame.write_parquet(temporary)
    temporary.replace(out)
    print(
        f"{out}: {frame.height:,} rows, {frame['series'].n_unique():,} series, {frame['date'].min()}..{frame['date'].max()}"
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
