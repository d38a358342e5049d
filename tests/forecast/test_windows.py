from types import SimpleNamespace

import numpy as np
import pytest

from dlcli.forecast.data import load_panel
from dlcli.forecast.train import training_vocab
from dlcli.forecast.windows import SplitConfig, TrainingWindows, WindowMaker, make_layout, make_split
from tests.forecast.conftest import SAMPLE


@pytest.fixture(scope="module")
def panel():
    return load_panel(SAMPLE)


def test_split_reproduces_the_papers_dates():
    dates = np.arange(np.datetime64("2013-01-01"), np.datetime64("2017-08-16"))
    fake = SimpleNamespace(n_observed=len(dates), frequency="D", source="x")
    split = make_split(fake, SplitConfig())
    assert str(dates[split.valid_origin]) == "2017-06-13"
    assert [str(dates[o]) for o in split.test_origins] == ["2017-06-29", "2017-07-15", "2017-07-31"]
    assert str(dates[split.train_end - 1]) == "2017-05-27"  # the last training target
    assert split.max_origin + 16 == split.train_end and split.min_origin == 300


def _maker(panel):
    split = make_split(panel, SplitConfig(min_history=60))
    layout = make_layout(panel, split.train_end)
    return WindowMaker(panel, layout, training_vocab(panel, split.train_end), 16), split


def test_windows_gather_history_inputs_and_targets(panel):
    maker, _ = _maker(panel)
    series = np.array([0, 5, 9])
    origins = np.array([700, 10, 1000])
    window = maker.make(series, origins, history=30)
    assert window["history"].shape == (3, 30, len(maker.layout.encoder))
    assert window["future"].shape == (3, 16, len(maker.layout.decoder))
    expected = np.log1p(np.maximum(panel.values[0, 670:700], 0))
    np.testing.assert_allclose(window["history"][0, :, 0], expected, rtol=1e-6)
    assert window["history"][1, :20, 1].sum() == 0 and (window["history"][1, :20, 0] == 0).all()  # before the data
    np.testing.assert_allclose(window["target"][2], np.log1p(np.maximum(panel.values[9, 1000:1016], 0)), rtol=1e-6)
    promo = maker.layout.decoder.index("onpromotion")
    np.testing.assert_array_equal(window["future"][0, :, promo], panel.series_known["onpromotion"][0, 700:716])
    starts = np.where(panel.first_period < panel.n_observed, panel.first_period, -1)
    late = int(np.argmax(starts))  # a series that starts late: unobserved before its first row
    window = maker.make(np.array([late]), np.array([panel.first_period[late] + 5]), history=10)
    assert window["history"][0, :, 1].tolist() == [0.0] * 5 + [1.0] * 5
    beyond = maker.make(np.array([0]), np.array([panel.n_observed - 4]), history=5)["target"]
    assert np.isnan(beyond[0, 4:]).all() and not np.isnan(beyond[0, :4]).any()


def test_training_windows_random_present_is_reproducible(panel):
    maker, split = _maker(panel)
    config = SplitConfig(min_history=60, unknown_rate=0.5)
    windows = TrainingWindows(maker, split, config, 20, length=64, seed=7)
    indices = np.arange(8, 24)
    origins = windows.origins(indices)
    assert len(set(origins.tolist())) == 1  # one present per mini-batch (the paper)
    assert split.min_origin <= origins[0] <= split.max_origin
    first = windows.__getitems__(indices)
    again = windows.__getitems__(indices)
    for a, b in zip(first, again):
        assert np.array_equal(a.numpy(), b.numpy(), equal_nan=True)
    windows.set_epoch(1)
    assert windows.origins(indices)[0] != origins[0]
    hidden = (first[2][:, maker.identity_columns] == 0).all(axis=1).float().mean()
    assert 0.1 < hidden < 0.9  # about half hide their identity at unknown_rate 0.5
    every = TrainingWindows(maker, split, SplitConfig(min_history=60, present_per="example"), 20, 64, 7)
    assert len(set(every.origins(np.arange(64)).tolist())) > 10
    fixed = TrainingWindows(maker, split, SplitConfig(min_history=60, random_present=False), 20, 64, 7)
    assert set(fixed.origins(np.arange(64)).tolist()) == {split.max_origin}


def test_batched_gathers_agree_with_one_window_at_a_time(panel):
    maker, _ = _maker(panel)
    series = np.array([3, 17, 40, 8])
    origins = np.array([400, 1200, 20, panel.n_observed])  # mixed origins, one before the data has 40 periods
    batch = maker.make(series, origins, history=40)
    for row, (s, o) in enumerate(zip(series, origins)):
        single = maker.make(np.array([s]), np.array([o]), history=40)  # one origin: the broadcast path
        for key in ("history", "future", "static"):
            np.testing.assert_array_equal(batch[key][row], single[key][0], err_msg=key)
    calendar = maker.layout.encoder.index("weekday_mon")
    weekday = (panel.dates[360:400].astype(np.int64) + 3) % 7 == 0
    np.testing.assert_array_equal(batch["history"][0, :, calendar], weekday)
    holiday = maker.layout.decoder.index("local_holiday")
    store = panel.group[17]
    np.testing.assert_array_equal(batch["future"][1, :, holiday], panel.group_known.values[store, 1200:1216, 1])
