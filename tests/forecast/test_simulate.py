import numpy as np
import polars as pl
import pytest
from scipy import stats

from dlcli.forecast.export import favorita_to_long
from dlcli.forecast.oracle import SimulationTruth, expected_log1p_lognormal_poisson, expected_log1p_poisson
from dlcli.forecast.simulate import SCALES, SimulationConfig, simulate
from tests.forecast.conftest import SAMPLE, SAMPLE_LONG

FILES = ("train.csv", "test.csv", "items.csv", "stores.csv", "oil.csv", "holidays_events.csv", "transactions.csv")


def test_committed_sample_is_what_the_generator_writes(tmp_path):
    simulate(SimulationConfig(**SCALES["sample"], seed=0), tmp_path)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name
    with np.load(tmp_path / "truth.npz") as fresh, np.load(SAMPLE / "truth.npz") as committed:
        assert fresh.files == committed.files
        for key in fresh.files:
            np.testing.assert_array_equal(fresh[key], committed[key])
    favorita_to_long(tmp_path, tmp_path / "weekly.csv", "W")
    assert (tmp_path / "weekly.csv").read_bytes() == SAMPLE_LONG.read_bytes()
    other = tmp_path / "other"
    simulate(SimulationConfig(**SCALES["sample"], seed=1), other)
    assert (other / "train.csv").read_bytes() != (SAMPLE / "train.csv").read_bytes()


def test_sample_has_the_real_files_quirks():
    train = pl.read_csv(SAMPLE / "train.csv", try_parse_dates=True)
    assert train.columns == ["id", "date", "store_nbr", "item_nbr", "unit_sales", "onpromotion"]
    assert (train["unit_sales"] < 0).sum() > 0  # returns
    early = train.filter(pl.col("date") < pl.date(2014, 4, 1))
    assert early["onpromotion"].null_count() == early.height > 0  # onpromotion empty before 2014-04
    assert train.filter(pl.col("date") >= pl.date(2014, 4, 1))["onpromotion"].null_count() == 0
    christmas = train.filter((pl.col("date").dt.month() == 12) & (pl.col("date").dt.day() == 25))
    assert christmas.height == 0  # stores closed: the date is absent
    zero_days = train.filter(pl.col("unit_sales") == 0)
    assert zero_days.height > 0 and set(zero_days["onpromotion"]) == {"True"}  # promoted days are always recorded
    oil = pl.read_csv(SAMPLE / "oil.csv", try_parse_dates=True)
    assert oil["dcoilwtico"].null_count() > 0 and oil["date"].dt.weekday().max() <= 5  # gaps, no weekends
    holidays = pl.read_csv(SAMPLE / "holidays_events.csv", infer_schema=False)
    assert holidays.filter(pl.col("transferred") == "True").height > 0
    assert set(holidays["type"]) >= {"Holiday", "Transfer", "Additional", "Event"}
    assert set(holidays["locale"]) == {"National", "Regional", "Local"}
    test = pl.read_csv(SAMPLE / "test.csv", try_parse_dates=True)
    assert test["date"].min() > train["date"].max()
    assert len(set(test["item_nbr"]) - set(train["item_nbr"])) >= 1  # items launched after the data ends


@pytest.mark.parametrize("rate", [0.01, 0.7, 3.0, 40.0, 900.0])
def test_log1p_poisson_table_matches_exact_sums(rate):
    y = np.arange(0, int(rate + 20 * np.sqrt(rate) + 50))
    exact = np.sum(stats.poisson.pmf(y, rate) * np.log1p(y))
    assert expected_log1p_poisson(np.log(rate)) == pytest.approx(exact, abs=2e-5)


def test_lognormal_poisson_expectation_matches_monte_carlo():
    rng = np.random.default_rng(0)
    for mean, sd in [(-1.0, 0.5), (1.5, 0.4), (4.0, 0.3)]:
        draws = np.log1p(rng.poisson(np.exp(rng.normal(mean, sd, 400_000)))).mean()
        assert expected_log1p_lognormal_poisson(np.array(mean), np.array(sd)) == pytest.approx(draws, abs=0.01)


def test_oracle_is_unbiased_and_beats_naive_forecasts_on_the_truth():
    truth = SimulationTruth(SAMPLE / "truth.npz")
    n_train = int(truth.data["n_train"])
    origin = truth.dates[n_train - 16]
    forecast = truth.log_forecast(origin, 16)
    actual = np.log1p(np.maximum(truth.data["sales"][:, n_train - 16 : n_train], 0))
    last_week = np.log1p(np.maximum(truth.data["sales"][:, n_train - 23 : n_train - 16], 0))[:, np.arange(16) % 7]
    oracle_rmsle = np.sqrt(((forecast - actual) ** 2).mean())
    assert oracle_rmsle < np.sqrt(((last_week - actual) ** 2).mean())
    assert abs((forecast - actual).mean()) < 0.05
    assert not truth.covers(truth.dates[0], 16)  # needs the latent state of the day before
