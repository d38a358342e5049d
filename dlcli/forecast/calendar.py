"""Calendar and holiday features, shared by the reader and the simulator.

The simulator draws its holiday effects as linear functions of exactly these features,
so a model that sees them can in principle learn every calendar effect of the data.
Holidays follow the Favorita ``holidays_events.csv`` conventions: a row with
``transferred = True`` is an ordinary day (the holiday moved); the ``Transfer`` row on
another date is where it is celebrated; ``Bridge`` days are extra days off, ``Work Day``
makes up for them; ``Regional`` rows apply to one state and ``Local`` rows to one city.
"""

from __future__ import annotations

import numpy as np
import polars as pl

NATIONAL_TYPES = ("Holiday", "Transfer", "Additional", "Bridge", "Work Day", "Event")
DAYS_OFF = ("Holiday", "Transfer", "Additional", "Bridge")  # the types that make a day off where they apply


def day_numbers(dates: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 as int64 (dates as datetime64[D])."""
    return np.asarray(dates, dtype="datetime64[D]").astype(np.int64)


def calendar_features(dates: np.ndarray, frequency: str = "D") -> tuple[list[str], np.ndarray]:
    """Known-in-advance calendar features, centred and scaled (the reference's year/month/day/weekday).

    Daily data: weekday one-hot, day of month, month and day-of-year phases, year, and
    the public-sector paydays (the 15th and the month's last day). Weekly data: week of
    year, month and year only.
    """
    dates = np.asarray(dates, dtype="datetime64[D]")
    years = dates.astype("datetime64[Y]")
    year = years.astype(np.int64) + 1970
    month0 = (dates.astype("datetime64[M]") - years.astype("datetime64[M]")).astype(np.int64)  # 0..11
    day_of_year = (dates - years).astype(np.int64)  # 0..365
    phase = 2 * np.pi * day_of_year / 365.25
    month_phase = 2 * np.pi * month0 / 12
    columns = {
        "year": (year - 2015.0) / 2.0,
        "month_sin": np.sin(month_phase),
        "month_cos": np.cos(month_phase),
        "season_sin": np.sin(phase),
        "season_cos": np.cos(phase),
    }
    if frequency == "D":
        day_of_month = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
        next_month_first = (dates.astype("datetime64[M]") + 1).astype("datetime64[D]")
        last_day = (next_month_first - dates).astype(np.int64) == 1
        weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday: 0 = Monday
        columns["day_of_month"] = (day_of_month - 15.5) / 15.0
        columns["payday"] = ((day_of_month == 15) | last_day).astype(np.float64)
        for day, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun")):
            columns[f"weekday_{name}"] = (weekday == day).astype(np.float64)
    names = list(columns)
    return names, np.stack([columns[n] for n in names], axis=1).astype(np.float32)


def holiday_features(
    holidays: pl.DataFrame, dates: np.ndarray, store_cities: np.ndarray, store_states: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """National holiday types per day and regional/local days off per store.

    Returns ``national`` [T, 6] (one column per ``NATIONAL_TYPES``), ``regional`` and
    ``local`` [stores, T] (1 where the store's state / city has a day off). Rows marked
    transferred are ignored: the holiday is celebrated on its ``Transfer`` row instead.
    """
    start = day_numbers(dates[:1])[0] if len(dates) else 0
    n_days = len(dates)
    national = np.zeros((n_days, len(NATIONAL_TYPES)), np.float32)
    regional = np.zeros((len(store_cities), n_days), np.float32)
    local = np.zeros((len(store_cities), n_days), np.float32)
    if holidays.height == 0 or n_days == 0:
        return national, regional, local
    table = holidays.filter(~pl.col("transferred").fill_null(False)).with_columns(
        (pl.col("date").cast(pl.Int64) - start).alias("day")
    )
    table = table.filter((pl.col("day") >= 0) & (pl.col("day") < n_days))
    for index, kind in enumerate(NATIONAL_TYPES):
        days = table.filter((pl.col("locale") == "National") & (pl.col("type") == kind))["day"].to_numpy()
        national[days, index] = 1.0
    off = table.filter(pl.col("type").is_in(DAYS_OFF))
    for locale, places, target in (("Regional", store_states, regional), ("Local", store_cities, local)):
        rows = off.filter(pl.col("locale") == locale).select("locale_name", "day")
        if rows.height == 0:
            continue
        names = rows["locale_name"].to_numpy().astype(str)
        days = rows["day"].to_numpy()
        places = np.asarray(places).astype(str)
        for store, place in enumerate(places):
            target[store, days[names == place]] = 1.0
    return national, regional, local


def easter(year: int) -> np.datetime64:
    """Gregorian Easter Sunday (anonymous algorithm): Carnival and Good Friday move with it."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month = (h + leap - 7 * m + 114) // 31
    day = (h + leap - 7 * m + 114) % 31 + 1
    return np.datetime64(f"{year:04d}-{month:02d}-{day:02d}")
