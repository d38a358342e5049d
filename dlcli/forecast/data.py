"""Dense per-series arrays built from sales files: the one form every forecast command reads.

A ``Panel`` holds one data set as arrays indexed [series, period]: the target (float32,
0 where a row is absent, negatives kept), inputs known in advance (promotions, calendar,
holidays: they extend past the last observed day, into the forecast), inputs observed only
up to the present (oil, transactions), static categories per series and the weights of
the weighted metric. Readers (``favorita.py``, ``longformat.py``) build it with polars
(lazy scans, explicit schemas, no Python loops over rows). Large arrays are cached as
``.npy`` files and memory-mapped, so the next command on the same files starts at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from dlcli.errors import InputError
from dlcli.files import atomic_path

log = logging.getLogger("dlcli.forecast")

CACHE_VERSION = 2  # 2: non-finite, missing and duplicate values are checked while the arrays are built
FILL_MISSING = ("error", "zero", "drop")
DUPLICATES = ("error", "first", "last")
CACHE_MIN_CELLS = 50_000_000  # series x days above which the core arrays are cached and memory-mapped


@dataclass
class DataConfig:
    format: str = "auto"  # auto | favorita | long (auto: a folder with train.csv/parquet is Favorita)
    series_col: str = "series_id"  # long format: the column naming each series
    date_col: str = "date"  # long format: the period's date
    value_col: str = "value"  # long format: the target (empty on future rows that only carry known inputs)
    static_cols: list[str] = field(default_factory=list)  # long format: categorical columns constant per series
    future_cols: list[str] = field(default_factory=list)  # long format: numeric inputs known in advance (price, promo)
    past_cols: list[str] = field(default_factory=list)  # long format: numeric inputs observed only up to the present
    weight_col: str | None = None  # long format: per-series weight of the weighted metric (default 1)
    static_numeric_cols: list[str] = field(default_factory=list)  # long format: numeric columns constant per series
    missing: str = "zero"  # long format: an absent row is a zero sale (zero) or an unrecorded period (unknown: NaN)
    frequency: str = "auto"  # auto | D | W
    fill_missing: str = "error"  # a blank, NaN or infinite value: error | zero (count it as 0) | drop (drop the row)
    duplicates: str = "error"  # rows with the same series and date: error | first | last (keep that one)
    perishable_weight: float = 1.25  # Favorita: weight of perishable items in the loss and NWRMSLE
    cache_dir: str | None = (
        None  # where large arrays are cached (default $DLCLI_CACHE/forecast or ~/.cache/dlcli/forecast)
    )

    def __post_init__(self) -> None:
        from dlcli.errors import ConfigError

        if self.format not in ("auto", "favorita", "long"):
            raise ConfigError(f"data.format must be auto, favorita or long, not {self.format!r}")
        if self.frequency not in ("auto", "D", "W"):
            raise ConfigError(f"data.frequency must be auto, D or W, not {self.frequency!r}")
        if self.fill_missing not in FILL_MISSING:
            raise ConfigError(f"data.fill_missing must be {', '.join(FILL_MISSING)}, not {self.fill_missing!r}")
        if self.duplicates not in DUPLICATES:
            raise ConfigError(f"data.duplicates must be {', '.join(DUPLICATES)}, not {self.duplicates!r}")
        if self.missing not in ("zero", "unknown"):
            raise ConfigError(f"data.missing must be zero or unknown, not {self.missing!r}")


@dataclass
class Features:
    """Named input channels of one kind: per period [T', k], per group [G, T', k] or per series {name: [S, T']}."""

    names: list[str]
    values: np.ndarray | dict[str, np.ndarray]


@dataclass
class Panel:
    source: Path
    kind: str  # favorita | long
    frequency: str  # D | W
    dates: np.ndarray  # datetime64[D] [T + F]: the observed periods, then future periods
    n_observed: int  # T: periods with observed targets
    keys: pl.DataFrame  # one row per series: its identity columns
    values: np.ndarray  # [S, T] float32 raw target (NaN: an unrecorded period, with data.missing = unknown)
    first_period: np.ndarray  # [S] int64: first period with a row (T when the series only has future rows)
    static: dict[str, np.ndarray]  # field -> [S] int64 codes into static_vocab[field] (0 = missing/unknown)
    static_vocab: dict[str, list[str]]  # field -> categories (code c is static_vocab[field][c - 1])
    identity: list[str]  # the static fields that identify a series (unknown for a new series)
    weights: np.ndarray  # [S] float32
    series_known: dict[str, np.ndarray]  # name -> [S, <= T + F]: inputs known in advance per series (promotions)
    series_past: dict[str, np.ndarray]  # name -> [S, T]: inputs observed up to the present per series
    time_known: Features  # [T + F, k] calendar, national holidays
    time_past: Features  # [T + F, p] oil (rows from T on are unused)
    group: np.ndarray | None = None  # [S] group (store) index of each series
    group_known: Features | None = None  # [G, T + F, a] regional/local holidays
    group_past: Features | None = None  # [G, T + F, b] transactions
    facts: dict = field(default_factory=dict)  # reader statistics for the user (rows, returns, zero share...)

    @property
    def n_series(self) -> int:
        return self.values.shape[0]

    @property
    def horizon_available(self) -> int:
        return len(self.dates) - self.n_observed

    def period_index(self, date) -> int:
        """Index of ``date`` on the panel's axis (a date between periods is an error)."""
        date = np.datetime64(date, "D")
        step = 7 if self.frequency == "W" else 1
        offset = int((date - self.dates[0]).astype(np.int64))
        if offset % step:
            raise InputError(f"{date} is not on the data's {self.frequency} grid (starting {self.dates[0]})")
        return offset // step

    def key_strings(self) -> np.ndarray:
        """One text key per series (joins identity columns with '/'), for matching across data sets."""
        columns = [self.keys[c].cast(pl.String) for c in self.keys.columns]
        if len(columns) == 1:
            return columns[0].to_numpy().astype(str)
        return pl.DataFrame(columns).select(pl.concat_str(pl.all(), separator="/")).to_series().to_numpy().astype(str)


def cache_folder(config: DataConfig) -> Path:
    if config.cache_dir:
        return Path(config.cache_dir)
    base = os.environ.get("DLCLI_CACHE") or Path.home() / ".cache" / "dlcli"
    return Path(base) / "forecast"


def cache_key(files: list[Path], options: dict) -> str:
    """Changes whenever an input file (path, size, mtime) or a reader option changes."""
    parts = [CACHE_VERSION, options]
    for path in files:
        stat = path.stat()
        parts.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def save_arrays(folder: Path, arrays: dict[str, np.ndarray], meta: dict, keys: pl.DataFrame) -> None:
    """Write a cache entry: arrays as .npy, then metadata last (its presence marks a complete entry)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        with atomic_path(folder / f"{name}.npy") as path, open(path, "wb") as handle:
            np.save(handle, np.ascontiguousarray(array))
    with atomic_path(folder / "keys.parquet") as path:
        keys.write_parquet(path)
    with atomic_path(folder / "meta.json") as path:
        path.write_text(json.dumps({**meta, "arrays": sorted(arrays)}))


def load_arrays(folder: Path) -> tuple[dict[str, np.ndarray], dict, pl.DataFrame] | None:
    """A complete cache entry, memory-mapped; None when there is none (or it is damaged)."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in meta["arrays"]}
        keys = pl.read_parquet(folder / "keys.parquet")
    except (OSError, ValueError, KeyError, pl.exceptions.PolarsError):
        return None
    return arrays, meta, keys


def cached_build(config: DataConfig, files: list[Path], options: dict, build):
    """``build() -> (arrays, meta, keys)``, cached and memory-mapped when the arrays are large."""
    folder = cache_folder(config) / cache_key(files, options)
    found = load_arrays(folder)
    if found is not None:
        log.info(f"using the cached arrays in {folder}")
        return found
    arrays, meta, keys = build()
    cells = arrays["values"].size
    if cells >= CACHE_MIN_CELLS:
        try:
            save_arrays(folder, arrays, meta, keys)
        except OSError as error:
            log.warning(f"could not cache the arrays in {folder} ({error.strerror}); they stay in memory")
            shutil.rmtree(folder, ignore_errors=True)
            return arrays, meta, keys
        del arrays
        loaded = load_arrays(folder)
        if loaded is not None:
            log.info(f"cached {cells:,} cells in {folder} (memory-mapped)")
            return loaded
    return arrays, meta, keys


def load_panel(path: str | Path, config: DataConfig | None = None, *, future_periods: int = 0) -> Panel:
    """Read a data set (a Favorita folder or a long-format file) into a Panel.

    ``future_periods``: make the date axis reach at least this many periods past the
    last observed one (calendar features are computed for them; per-series inputs known
    in advance are 0 where the files give none).
    """
    config = config or DataConfig()
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", path=path)
    kind = config.format
    if kind == "auto":
        kind = "favorita" if path.is_dir() else "long"
    if kind == "favorita":
        from dlcli.forecast.favorita import read_favorita

        return read_favorita(path, config, future_periods=future_periods)
    if path.is_dir():
        raise InputError("a folder without train.csv or train.parquet; give a long-format CSV/parquet file", path=path)
    from dlcli.forecast.longformat import read_long

    return read_long(path, config, future_periods=future_periods)


def scatter(index_rows: np.ndarray, index_cols: np.ndarray, values: np.ndarray, shape, dtype, fill=0) -> np.ndarray:
    """Dense [rows, cols] array from coordinate lists (the last duplicate wins), in chunks to bound memory."""
    dense = np.full(shape, fill, dtype=dtype)
    flat = dense.reshape(-1)
    chunk = 16_000_000
    for begin in range(0, len(index_rows), chunk):
        rows = index_rows[begin : begin + chunk].astype(np.int64)
        flat[rows * shape[1] + index_cols[begin : begin + chunk]] = values[begin : begin + chunk]
    return dense


def truncated(panel: Panel, origin: int) -> Panel:
    """The panel as it was known just before period ``origin``: targets and past inputs end there (backtests)."""
    from dataclasses import replace

    return replace(
        panel,
        values=panel.values[:, :origin],
        n_observed=origin,
        first_period=np.minimum(panel.first_period, origin),
        series_past={name: array[:, :origin] for name, array in panel.series_past.items()},
    )


def codes_for(column: pl.Series) -> tuple[np.ndarray, list[str]]:
    """Category codes 1..n (0 for missing) and the sorted categories of a column (as text)."""
    text = column.cast(pl.String)
    missing = text.is_null().to_numpy()
    categories, inverse = np.unique(text.fill_null("").to_numpy().astype(str)[~missing], return_inverse=True)
    codes = np.zeros(len(text), np.int64)
    codes[~missing] = inverse + 1
    return codes, categories.tolist()


def bad_values(column: pl.Series, blank: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, int]]:
    """Rows whose value is NaN or infinite (or empty, where ``blank`` says it must not be), and counts by kind."""
    nan = column.is_nan().fill_null(False).to_numpy()
    infinite = column.is_infinite().fill_null(False).to_numpy()
    counts = {"blank": int(blank.sum())} if blank is not None else {}
    counts.update({"NaN": int(nan.sum()), "infinite": int(infinite.sum())})
    bad = nan | infinite if blank is None else nan | infinite | blank
    return bad, counts


def check_values(
    bad: np.ndarray, counts: dict[str, int], column: str, path: Path, policy: str, where, filled: str | None = None
) -> bool:
    """Apply the fill-missing policy: an error naming the file, column and count, or True when rows need filling.

    ``where(row)`` describes one bad row for the message (its series and date); ``filled``
    says what zero and drop do with the values when it is not the usual.
    """
    if not bad.any():
        return False
    kinds = ", ".join(f"{n:,} {kind}" for kind, n in counts.items() if n)
    summary = f"column '{column}': {int(bad.sum()):,} rows without a finite value ({kinds}), e.g. {where(int(np.argmax(bad)))}"
    if policy == "error":
        raise InputError(f"{summary}; pass --fill-missing zero (count them as 0) or drop (drop those rows)", path=path)
    filled = filled or ("counted as 0" if policy == "zero" else "rows dropped")
    log.warning(f"{path}: {summary}: {filled} (--fill-missing {policy})")
    return True


def duplicate_rows(
    rows: np.ndarray, columns: np.ndarray, shape: tuple[int, int], path: Path, policy: str, what: str, where
) -> np.ndarray | None:
    """Rows to keep when several rows give the same cell [row, column]; None when there are no duplicates.

    A bitmap of the cells counts them in one pass (a byte per cell: ~0.3 GB for the full
    Favorita data, where a hash of 130M keys would take seconds and gigabytes). ``policy``
    error raises an error naming the count and an example; first or last keeps that row.
    """
    seen = np.zeros(shape[0] * shape[1], bool)
    chunk = 16_000_000
    for begin in range(0, len(rows), chunk):
        seen[rows[begin : begin + chunk].astype(np.int64) * shape[1] + columns[begin : begin + chunk]] = True
    extra = len(rows) - int(np.count_nonzero(seen))
    del seen
    if extra == 0:
        return None
    cells = pl.Series(rows.astype(np.int64) * shape[1] + columns)
    example = where(int(np.argmax((~cells.is_first_distinct()).to_numpy())))
    if policy == "error":
        raise InputError(
            f"{extra:,} duplicate rows (the same {what} as an earlier row), e.g. {example}; "
            "pass --duplicates first or last to keep one of them",
            path=path,
        )
    log.warning(f"{path}: {extra:,} duplicate rows (the same {what}), e.g. {example}: the {policy} one kept")
    return (cells.is_first_distinct() if policy == "first" else cells.is_last_distinct()).to_numpy()
