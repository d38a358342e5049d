"""Reading CSV/parquet tables with explicit schemas and one clear error per problem.

Every scan names its columns and types up front (no inference on 100M-row files); a
missing file, a missing column or a value that does not parse becomes one ``InputError``
naming the file, instead of a polars traceback.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl

from dlcli.errors import InputError

SUFFIXES = (".csv", ".parquet")


def find_table(folder: Path, name: str, *, required: bool = True) -> Path | None:
    """``folder/name.csv`` or ``folder/name.parquet``."""
    for suffix in SUFFIXES:
        path = folder / f"{name}{suffix}"
        if path.is_file():
            return path
    if required:
        raise InputError(f"missing file {name}.csv (or {name}.parquet)", path=folder)
    return None


def header(path: Path) -> list[str]:
    """The column names of a CSV (first line) or parquet file."""
    try:
        if path.suffix == ".parquet":
            return list(pl.read_parquet_schema(path))
        with open(path, newline="", encoding="utf-8") as handle:
            first = next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError, pl.exceptions.PolarsError) as error:
        raise InputError(f"cannot read the file ({error})", path=path) from None
    if not first:
        raise InputError("empty file (no header line)", path=path)
    return [name.strip().lstrip("\ufeff") for name in first]


def scan_table(path: Path, schema: dict[str, pl.DataType], columns: list[str]) -> pl.LazyFrame:
    """A lazy scan of ``columns`` with the types in ``schema``; missing columns are an error naming them."""
    names = header(path)
    missing = [column for column in columns if column not in names]
    if missing:
        quoted = ", ".join(f"'{c}'" for c in missing)
        raise InputError(f"missing column {quoted} (the file has: {', '.join(names)})", path=path)
    if path.suffix == ".parquet":
        lazy = pl.scan_parquet(path).select(columns)
        stored = lazy.collect_schema()
        return lazy.with_columns([_convert(c, stored[c], schema[c]) for c in columns if c in schema])
    full = {name: schema.get(name, pl.String) for name in names}
    return pl.scan_csv(path, schema=full, null_values=[""], try_parse_dates=False).select(columns)


def _convert(name: str, stored: pl.DataType, wanted: pl.DataType) -> pl.Expr:
    """Column ``name`` as ``wanted`` (values that do not convert become null).

    Text to boolean is spelled out because polars cannot cast it: a parquet file converted
    from train.csv by type inference stores ``onpromotion`` as text, since its first rows
    are empty.
    """
    if wanted == pl.Boolean and stored == pl.String:
        text = pl.col(name).str.strip_chars().str.to_lowercase()
        return (
            pl.when(text.is_in(["true", "1"]))
            .then(True)
            .when(text.is_in(["false", "0"]))
            .then(False)
            .otherwise(None)
            .alias(name)
        )
    return pl.col(name).cast(wanted, strict=False)


def collect(lazy: pl.LazyFrame, path: Path) -> pl.DataFrame:
    """Run a query, turning parse errors into one line that names the file."""
    try:
        return lazy.collect()
    except (pl.exceptions.PolarsError, OSError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"cannot read the table: {first[:300]}", path=path) from None
