import numpy as np
import pytest

from dlcli.forecast import baselines
from dlcli.forecast.data import load_panel
from dlcli.forecast.metrics import per_day, summary
from dlcli.forecast.windows import SplitConfig, make_split
from tests.forecast.conftest import SAMPLE


def test_metrics_follow_their_formulas():
    true = np.log1p(np.array([[0.0, 3.0], [10.0, 1.0]]))
    predicted = np.log1p(np.array([[1.0, 3.0], [4.0, 0.0]]))
    weights = np.array([1.0, 1.25])
    d = predicted - true
    values = summary(predicted, true, weights)
    assert values["rmsle"] == pytest.approx(np.sqrt(np.mean(d**2)))
    w = np.array([[1.0, 1.0], [1.25, 1.25]])
    assert values["nwrmsle"] == pytest.approx(np.sqrt((w * d**2).sum() / w.sum()))
    assert values["male"] == pytest.approx(np.abs(d).mean())  # no square root (see metrics.py)
    days = per_day(predicted, true, weights)
    assert days[1]["rmsle"] == pytest.approx(np.sqrt(np.mean(d[:, 1] ** 2)))


def test_simple_baselines():
    panel = load_panel(SAMPLE)
    series = np.arange(panel.n_series)
    naive = baselines.seasonal_naive(panel, series, 1000, 16)
    last_week = np.log1p(np.maximum(panel.values[:, 993:1000], 0))
    np.testing.assert_allclose(naive, last_week[:, np.arange(16) % 7], rtol=1e-6)
    truth = baselines.log_target(panel, series, 1000, 1016)
    shuffled = baselines.random_baseline(truth, seed=1)
    assert sorted(shuffled.ravel()) == sorted(truth.ravel()) and not np.array_equal(shuffled, truth)
    assert (baselines.average_baseline(truth) == truth.mean()).all()


def test_lightgbm_baseline_learns_from_lag_features():
    pytest.importorskip("lightgbm")
    panel = load_panel(SAMPLE)
    split = make_split(panel, SplitConfig(min_history=60))
    model = baselines.LightGBMBaseline(panel, 16, rounds=60, threads=1).fit(split, origins=8)
    origin = split.test_origins[0]
    series = np.flatnonzero(panel.first_period < origin)
    truth = baselines.log_target(panel, series, origin, origin + 16)
    forecast = model.predict(series, origin)
    assert forecast.shape == truth.shape and forecast.min() >= 0
    weights = panel.weights[series]
    assert summary(forecast, truth, weights)["rmsle"] < summary(baselines.average_baseline(truth), truth, weights)["rmsle"]  # fmt: skip
