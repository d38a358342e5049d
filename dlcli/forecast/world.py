"""The simulated world's fixed parts: stores, items, the holiday calendar, oil, store closures.

Names and proportions follow the real data: the 33 item families with their item counts
and perishable flags, the 54 stores' cities and states, and Ecuador's holiday calendar
with its transfers, bridges and work days.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from dlcli.forecast.calendar import easter

FAMILIES = (
    ("GROCERY I", 1334, 0), ("BEVERAGES", 613, 0), ("CLEANING", 446, 0), ("PRODUCE", 306, 1), ("DAIRY", 242, 1),
    ("PERSONAL CARE", 153, 0), ("BREAD/BAKERY", 134, 1), ("HOME CARE", 108, 0), ("DELI", 91, 1), ("MEATS", 84, 1),
    ("HOME AND KITCHEN I", 77, 0), ("LIQUOR,WINE,BEER", 73, 0), ("FROZEN FOODS", 72, 0), ("POULTRY", 54, 1),
    ("HOME AND KITCHEN II", 45, 0), ("EGGS", 41, 1), ("CELEBRATION", 31, 0), ("LAWN AND GARDEN", 26, 0),
    ("PREPARED FOODS", 26, 1), ("LADIESWEAR", 21, 0), ("LINGERIE", 20, 0), ("AUTOMOTIVE", 20, 0), ("BEAUTY", 19, 0),
    ("PLAYERS AND ELECTRONICS", 17, 0), ("SCHOOL AND OFFICE SUPPLIES", 15, 0), ("GROCERY II", 14, 0),
    ("PET SUPPLIES", 14, 0), ("SEAFOOD", 8, 1), ("MAGAZINES", 6, 0), ("HARDWARE", 4, 0), ("BABY CARE", 1, 0),
    ("BOOKS", 1, 0), ("HOME APPLIANCES", 1, 0),
)  # fmt: skip
FESTIVE = {"CELEBRATION", "LIQUOR,WINE,BEER", "PLAYERS AND ELECTRONICS", "HOME AND KITCHEN II"}
# the 54 real stores' places: (city, state, stores there)
PLACES = (
    ("Quito", "Pichincha", 18), ("Guayaquil", "Guayas", 8), ("Cuenca", "Azuay", 3),
    ("Santo Domingo", "Santo Domingo de los Tsachilas", 3), ("Manta", "Manabi", 2), ("Latacunga", "Cotopaxi", 2),
    ("Machala", "El Oro", 2), ("Ambato", "Tungurahua", 2), ("Salinas", "Santa Elena", 1), ("Puyo", "Pastaza", 1),
    ("Quevedo", "Los Rios", 1), ("Babahoyo", "Los Rios", 1), ("Daule", "Guayas", 1), ("Playas", "Guayas", 1),
    ("Libertad", "Guayas", 1), ("Riobamba", "Chimborazo", 1), ("Loja", "Loja", 1), ("Esmeraldas", "Esmeraldas", 1),
    ("Ibarra", "Imbabura", 1), ("El Carmen", "Manabi", 1), ("Cayambe", "Pichincha", 1), ("Guaranda", "Bolivar", 1),
)  # fmt: skip
# log-effect of a national holiday type on the day it is celebrated (scaled per family)
HOLIDAY_EFFECTS = {
    "Holiday": 0.10,
    "Transfer": 0.10,
    "Additional": 0.22,
    "Bridge": 0.08,
    "Work Day": -0.08,
    "Event": 0.06,
}
WEEKLY_PROFILE = np.array([-0.06, -0.12, -0.05, -0.10, 0.0, 0.15, 0.18])  # Monday..Sunday, log scale


def make_stores(rng: np.random.Generator, n: int) -> pl.DataFrame:
    places = [(city, state) for city, state, count in PLACES for _ in range(count)]
    order = rng.permutation(len(places))[:n]
    return pl.DataFrame(
        {
            "store_nbr": np.arange(1, n + 1, dtype=np.int64),
            "city": [places[i][0] for i in order],
            "state": [places[i][1] for i in order],
            "type": rng.choice(list("ABCDE"), size=n, p=[0.17, 0.15, 0.28, 0.3, 0.1]),
            "cluster": rng.integers(1, 18, size=n),
        }
    )


def make_items(rng: np.random.Generator, n: int) -> pl.DataFrame:
    counts = np.array([count for _, count, _ in FAMILIES], float)
    family = rng.choice(len(FAMILIES), size=n, p=counts / counts.sum())
    family[: min(n, len(FAMILIES))] = np.arange(min(n, len(FAMILIES)))  # every family appears when n allows
    numbers = np.sort(rng.choice(np.arange(96_995, 2_134_245), size=n, replace=False))
    return pl.DataFrame(
        {
            "item_nbr": numbers,
            "family": [FAMILIES[f][0] for f in family],
            "class": 1000 + family * 40 + rng.integers(0, 12, size=n),
            "perishable": np.array([FAMILIES[f][2] for f in family], dtype=np.int64),
        }
    )


def make_holidays(rng: np.random.Generator, first_year: int, last_year: int, stores: pl.DataFrame) -> pl.DataFrame:
    """National, regional and local holidays with transfers, bridges and work days, as in holidays_events.csv."""
    rows: list[tuple] = []

    def add(date, kind, locale, name, description, transferred=False):
        rows.append((np.datetime64(date, "D"), kind, locale, name, description, transferred))

    def movable(date, description, locale="National", name="Ecuador"):
        """Since 2016 a holiday on Tuesday moves to Monday, on Wednesday/Thursday to Friday."""
        date = np.datetime64(date, "D")
        weekday = (date.astype(np.int64) + 3) % 7
        shift = {1: -1, 2: 2, 3: 1}.get(int(weekday), 0)
        if date >= np.datetime64("2016-01-01") and shift:
            add(date, "Holiday", locale, name, description, transferred=True)
            add(date + shift, "Transfer", locale, name, f"Traslado {description}")
        else:
            add(date, "Holiday", locale, name, description)

    state_days = {state: int(rng.integers(1, 365)) for state in sorted(set(stores["state"]))}
    city_days = {city: int(rng.integers(1, 365)) for city in sorted(set(stores["city"]))}
    for year in range(first_year, last_year + 1):
        y = f"{year:04d}"
        add(f"{y}-01-01", "Holiday", "National", "Ecuador", "Primer dia del ano")
        sunday = easter(year)
        add(sunday - 48, "Holiday", "National", "Ecuador", "Carnaval")
        add(sunday - 47, "Holiday", "National", "Ecuador", "Carnaval")
        add(sunday - 2, "Holiday", "National", "Ecuador", "Viernes Santo")
        add(f"{y}-05-01", "Holiday", "National", "Ecuador", "Dia del Trabajo")
        movable(f"{y}-05-24", "Batalla de Pichincha")
        movable(f"{y}-08-10", "Primer Grito de Independencia")
        movable(f"{y}-10-09", "Independencia de Guayaquil")
        add(f"{y}-11-02", "Holiday", "National", "Ecuador", "Dia de Difuntos")
        add(f"{y}-11-03", "Holiday", "National", "Ecuador", "Independencia de Cuenca")
        for offset in (4, 3, 2, 1):
            add(np.datetime64(f"{y}-12-25") - offset, "Additional", "National", "Ecuador", f"Navidad-{offset}")
        add(f"{y}-12-25", "Holiday", "National", "Ecuador", "Navidad")
        add(f"{y}-12-26", "Additional", "National", "Ecuador", "Navidad+1")
        add(f"{y}-12-31", "Additional", "National", "Ecuador", "Primer dia del ano-1")
        christmas_weekday = (np.datetime64(f"{y}-12-25").astype(np.int64) + 3) % 7
        if christmas_weekday in (1, 3):  # Tuesday or Thursday: a bridge day, made up on a later Saturday
            bridge = np.datetime64(f"{y}-12-25") + (-1 if christmas_weekday == 1 else 1)
            add(bridge, "Bridge", "National", "Ecuador", "Puente Navidad")
            january = np.datetime64(f"{year + 1:04d}-01-01")
            saturday = january + (5 - (january.astype(np.int64) + 3) % 7) % 7 + 7
            add(saturday, "Work Day", "National", "Ecuador", "Recupero puente Navidad")
        may = np.datetime64(f"{y}-05-01")
        first_sunday = may + (6 - (may.astype(np.int64) + 3) % 7) % 7
        add(first_sunday + 7, "Event", "National", "Ecuador", "Dia de la Madre")
        november = np.datetime64(f"{y}-11-01")
        black_friday = november + (3 - (november.astype(np.int64) + 3) % 7) % 7 + 22
        add(black_friday, "Event", "National", "Ecuador", "Black Friday")
        add(black_friday + 3, "Event", "National", "Ecuador", "Cyber Monday")
        for state, day in state_days.items():
            add(np.datetime64(f"{y}-01-01") + day, "Holiday", "Regional", state, f"Provincializacion de {state}")
        for city, day in city_days.items():
            movable(np.datetime64(f"{y}-01-01") + day, f"Fundacion de {city}", "Local", city)
    columns = list(zip(*rows))
    table = pl.DataFrame(
        {
            "date": np.array(columns[0], dtype="datetime64[D]"),
            "type": columns[1],
            "locale": columns[2],
            "locale_name": columns[3],
            "description": columns[4],
            "transferred": columns[5],
        }
    )
    return table.sort("date", maintain_order=True)


def oil_walk(rng: np.random.Generator, n_days: int) -> np.ndarray:
    """A log random walk starting near 95 $/barrel with the 2014-2015 slump's downward drift."""
    drift = np.where(np.arange(n_days) < n_days * 0.45, -0.0012, 0.0)
    return 95.0 * np.exp(np.cumsum(drift + rng.normal(0, 0.018, n_days)))


def closed_days(dates: np.ndarray, n_stores: int, store_open: np.ndarray, rng) -> np.ndarray:
    """[stores, T] True where a store is closed: Christmas (no rows at all), New Year (most stores), before opening."""
    month_day = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
    leap = (dates.astype("datetime64[Y]").astype(np.int64) + 1970) % 4 == 0
    christmas = month_day == (358 + leap)
    new_year = month_day == 0
    closed = np.zeros((n_stores, len(dates)), bool)
    closed[:, christmas] = True
    open_on_new_year = rng.random(n_stores) < 0.1
    closed[np.ix_(~open_on_new_year, new_year)] = True
    closed |= np.arange(len(dates))[None, :] < store_open[:, None]
    return closed
