"""Real-data options: --missing unknown, numeric statics, the year-earlier input, losses, ensembles, defaults, backtests."""

import json

import numpy as np
import pytest
import torch

from dlcli.forecast import baselines as base
from dlcli.forecast.data import DataConfig, load_panel, truncated
from dlcli.forecast.defaults import fitted_overrides
from dlcli.forecast.metrics import mase_scales, unit_errors
from dlcli.forecast.model import Ensemble, ForecastModelConfig, build_model
from dlcli.forecast.train import loss_terms, make_step, training_vocab
from dlcli.forecast.windows import WindowMaker, make_layout
from tests.forecast.conftest import ROOT, SAMPLE_LONG, invoke, write_config

LONG = dict(static_cols=["family"], future_cols=["onpromotion"], weight_col="weight")


def _panel(tmp_path, rows: str, **options):
    path = tmp_path / "data.csv"
    path.write_text("series_id,date,value,promo,size\n" + rows)
    return load_panel(path, DataConfig(**options))


ROWS = "a,2020-01-06,4,0,10\na,2020-01-20,9,1,10\nb,2020-01-06,1,0,30\nb,2020-01-13,2,0,30\nb,2020-01-20,3,0,30\n"


def test_missing_unknown_leaves_unrecorded_weeks_out_of_inputs_and_targets(tmp_path):
    zero = _panel(tmp_path, ROWS)
    unknown = _panel(tmp_path, ROWS, missing="unknown")
    assert zero.values[0, 1] == 0 and np.isnan(unknown.values[0, 1])
    assert np.array_equal(unknown.values[1], [1, 2, 3])
    maker = WindowMaker(unknown, make_layout(unknown, 3), training_vocab(unknown, 3), 1)
    window = maker.make(np.array([0]), np.array([2]), 2)
    assert window["history"][0, :, 1].tolist() == [1.0, 0.0]  # the unrecorded week is not "observed"
    assert window["history"][0, 1, 0] == 0.0 and np.isfinite(window["history"]).all()
    assert np.isnan(maker.make(np.array([0]), np.array([1]), 1)["target"]).all()  # never a target
    # the baselines give finite forecasts and skip the gap
    assert np.allclose(base.naive(unknown, np.array([0]), 2, 2), np.log1p(4))
    assert np.isfinite(base.seasonal_naive(unknown, np.array([0, 1]), 3, 2)).all()


def test_numeric_static_columns_become_constant_inputs(tmp_path):
    panel = _panel(tmp_path, ROWS, static_numeric_cols=["size"], future_cols=["promo"])
    assert panel.series_known["size"][:, :3].tolist() == [[10, 10, 10], [30, 30, 30]]
    layout = make_layout(panel, 3)
    assert "size" in layout.decoder and "size" in layout.encoder and layout.scales["size"][1] > 0


def test_year_earlier_input_reads_only_periods_before_the_origin():
    days = np.datetime64("2019-01-07") + 7 * np.arange(60)
    from dlcli.forecast.data import Features, Panel

    values = np.tile(np.arange(60, dtype=np.float32), (2, 1))
    values[1, 3] = np.nan
    panel = Panel(source=None, kind="long", frequency="W", dates=days, n_observed=60, keys=None, values=values,
                  first_period=np.array([0, 0]), static={"s": np.array([1, 2])}, static_vocab={"s": ["a", "b"]},
                  identity=["s"], weights=np.ones(2, np.float32), series_known={}, series_past={},
                  time_known=Features([], np.zeros((60, 0), np.float32)), time_past=Features([], np.zeros((60, 0), np.float32)))  # fmt: skip
    layout = make_layout(panel, 60, seasonal=True)
    assert layout.decoder[:2] == ["year_ago", "year_ago_observed"]
    window = WindowMaker(panel, layout, {"s": ["a", "b"]}, 8).make(np.array([0, 1]), np.array([54, 54]), 4)
    year_ago = window["future"][..., 0]
    flag = window["future"][..., 1]
    assert np.allclose(year_ago[0], np.log1p(np.arange(2, 10))) and flag[0].tolist() == [1] * 8
    long = WindowMaker(panel, layout, {"s": ["a", "b"]}, 56).make(np.array([0]), np.array([2]), 2)
    assert long["future"][0, 52:, 1].tolist() == [0] * 4  # periods 2.. are not known at origin 2
    assert flag[1, 1] == 0 and year_ago[1, 1] == 0  # an unrecorded period one year earlier


def test_losses_skip_unrecorded_periods_and_match_their_formulas():
    predicted = torch.tensor([[1.0, 2.0, 3.0]])
    target = torch.tensor([[1.5, float("nan"), 2.0]])
    history = torch.tensor(
        [[[np.log1p(9.0), 1.0], [np.log1p(3.0), 0.0]]], dtype=torch.float32
    )  # scale: the recorded mean, 9 units
    error, count = loss_terms("mse-log1p", predicted, target, history)
    assert torch.allclose(error, torch.tensor([0.25 + 1.0])) and count.item() == 2
    error, _ = loss_terms("mae-log1p", predicted, target, history)
    assert torch.allclose(error, torch.tensor([1.5]))
    error, _ = loss_terms("quantile", predicted, target, history, quantile=0.9)
    assert torch.allclose(error, torch.tensor([0.9 * 0.5 + 0.1 * 1.0]))
    error, normaliser = loss_terms("mae", predicted, target, history)
    units = abs(np.expm1(1.0) - np.expm1(1.5)) + abs(np.expm1(3.0) - np.expm1(2.0))
    assert torch.allclose(error, torch.tensor([units], dtype=torch.float32), rtol=1e-4) and torch.allclose(
        normaliser, torch.tensor([18.0])
    )


def test_series_weights_weigh_the_training_loss():
    model = lambda history, future, static, target: torch.zeros_like(target)  # noqa: E731
    batch = [torch.zeros(2, 1, 2), torch.zeros(2, 1, 0), torch.zeros(2, 0), torch.tensor([[1.0], [3.0]])]
    even, _ = make_step("mae-log1p")(model, (*batch, torch.tensor([1.0, 1.0])))
    heavy, metrics = make_step("mae-log1p")(model, (*batch, torch.tensor([1.0, 3.0])))
    assert even.item() == pytest.approx(2.0) and heavy.item() == pytest.approx((1 + 9) / 4)
    assert metrics["nwrmsle"].item() == pytest.approx(np.sqrt((1 + 27) / 4))  # the monitor when there is no validation


def test_ensemble_averages_members_and_trains_each_on_its_own_loss():
    config = ForecastModelConfig(hidden=8, context=[8], head=8, encoder_features=2, decoder_features=0, members=2,
                                 static_fields=[], static_sizes=[], horizon=3)  # fmt: skip
    model = build_model(config, [])
    assert isinstance(model, Ensemble) and len(model.members) == 2
    inputs = (torch.randn(4, 5, 2), torch.zeros(4, 3, 0), torch.zeros(4, 0, dtype=torch.long))
    each = model.each(*inputs)
    assert torch.allclose(model(*inputs), each.mean(dim=0))
    loss, _ = make_step("mse-log1p")(model, (*inputs, torch.ones(4, 3), torch.ones(4)))
    single = sum(((p - 1) ** 2).mean() for p in each)
    assert loss.item() == pytest.approx(single.item(), rel=1e-5)


def test_unit_metrics_against_hand_computed_values():
    truth = np.log1p(np.array([[10.0, np.nan], [0.0, 4.0]]))
    forecast = np.log1p(np.array([[12.0, 99.0], [1.0, 2.0]]))
    m = unit_errors(forecast, truth, np.array([3.0, 1.0]), np.array([2.0, 1.0]))
    assert m["mae"] == pytest.approx((2 + 1 + 2) / 3)
    assert m["wmae"] == pytest.approx((3 * 2 + 1 + 2) / 5)
    assert m["wape"] == pytest.approx(5 / 14)
    assert m["mase"] == pytest.approx((1 + 1 + 2) / 3)
    assert m["smape"] == pytest.approx((200 * 2 / 22 + 200 + 200 * 2 / 6) / 3)
    assert m["rmsle"] == pytest.approx(np.sqrt(np.nanmean((forecast - truth) ** 2)))
    assert mase_scales(np.log1p(np.array([[1.0, 3.0, np.nan, 4.0]]))).tolist() == [2.0]


def test_defaults_fit_the_frequency_and_size():
    panel = load_panel(SAMPLE_LONG, DataConfig(**LONG))
    weekly = fitted_overrides(panel, 4)
    assert weekly["model.history"] <= panel.n_observed and weekly["split.valid_periods"] == 4
    assert weekly["model.members"] == 3 and weekly["train.early_stopping"] and weekly["split.test_periods"] == 0
    assert fitted_overrides(truncated(panel, 40), 4)["model.seasonal_input"] is False  # less than a year + horizon


def test_train_without_config_fits_defaults_and_options_win(tmp_path):
    run = tmp_path / "fitted"
    result = invoke("-q", "forecast", "train", SAMPLE_LONG, "--out", run, "--horizon", "4", "--epochs", "1",
                    "--steps-per-epoch", "2", "--ensemble", "2", "--static-cols", "family", "--future-cols", "onpromotion",
                    "--missing", "unknown", "--loss", "mae")  # fmt: skip
    assert result.exit_code == 0, result.output
    import yaml

    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["members"] == 2 and config["loss"] == "mae" and config["train"]["epochs"] == 1
    assert config["train"]["early_stopping"] == 10 and config["split"]["gap_periods"] == 0  # fitted
    assert config["data"]["missing"] == "unknown"
    out = tmp_path / "forecast.csv"
    result = invoke("-q", "forecast", "predict", run, SAMPLE_LONG, "--out", out)
    assert result.exit_code == 0, result.output


def test_backtest_scores_rolling_origins_before_the_holdout(tmp_path):
    config = write_config(tmp_path / "tiny.yaml", train={"epochs": 1, "batch_size": 16, "lr": 0.003}, steps_per_epoch=2,
                          model={"members": 1})  # fmt: skip
    out = tmp_path / "backtest"
    result = invoke("-q", "forecast", "backtest", SAMPLE_LONG, "--out", out, "--horizon", "4", "--origins", "2",
                    "--holdout", "4", "--models", "net,naive,seasonal-naive,lightgbm-fixed,blend", "--config", config,
                    "--static-cols", "family", "--future-cols", "onpromotion", "--missing", "unknown", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "metrics.json").read_text())
    panel = load_panel(SAMPLE_LONG, DataConfig(**LONG))
    assert report["origins"] == [str(panel.dates[panel.n_observed - 4 - 4 * k]) for k in (2, 1)]
    assert set(report["table"]) == {"net", "naive", "seasonal-naive", "lightgbm-fixed", "blend"}
    for entry in report["table"].values():
        assert all(np.isfinite(v) for v in entry["mean"].values())
    for metric in ("wmae", "mae", "wape", "rmsle", "mase", "smape"):
        assert (out / f"{metric}.png").stat().st_size > 1000
    assert (out / "origin-2" / "net" / "best.pt").is_file() or (out / "origin-2" / "net" / "last.pt").is_file()


def test_log_metrics_skip_unrecorded_periods():
    from dlcli.forecast.metrics import errors, per_series_rmsle

    truth = np.array([[1.0, np.nan], [2.0, 2.0]])
    forecast = np.array([[2.0, 5.0], [2.0, 4.0]])
    m = errors(forecast, truth, np.array([1.0, 3.0]))
    assert m["rmsle"] == pytest.approx(np.sqrt(5 / 3)) and m["male"] == pytest.approx(1.0)
    assert m["nwrmsle"] == pytest.approx(np.sqrt((1 + 3 * 4) / 7))
    assert np.allclose(per_series_rmsle(forecast, truth), [1.0, np.sqrt(2)])


DOMINICKS = ROOT / ".." / "shared" / "data" / "dominicks-orange-juice"


@pytest.mark.skipif(not (DOMINICKS / "oj_weekly.parquet").is_file(), reason="../shared/data/dominicks-orange-juice is absent")  # fmt: skip
def test_dominicks_recipe_file_reads_with_unrecorded_weeks(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "oj.parquet"
    subprocess.run([sys.executable, ROOT / "recipes" / "forecast" / "dominicks_long.py", DOMINICKS, out], check=True)
    config = DataConfig(series_col="series", date_col="date", value_col="units", static_cols=["store", "brand"],
                        future_cols=["price", "deal", "feat"], static_numeric_cols=["income"], missing="unknown")  # fmt: skip
    panel = load_panel(out, config)
    assert panel.n_series == 913 and panel.n_observed == 121 and panel.frequency == "W"
    assert 0.02 < np.isnan(panel.values).mean() < 0.06 and np.nanmin(panel.values) > 0


def test_reference_keeps_the_papers_recipe(tmp_path):
    import yaml

    run = tmp_path / "reference"
    result = invoke("-q", "forecast", "train", SAMPLE_LONG, "--out", run, "--reference", "--horizon", "4", "--epochs", "1",
                    "--steps-per-epoch", "1", "--history", "8", "--test-periods", "0", "--valid-periods", "4",
                    "--gap-periods", "0", "--min-history", "20")  # fmt: skip
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["loss"] == "mse-log1p" and config["model"]["members"] == 1 and config["train"]["lr"] == 1e-4


def test_backtest_reads_data_with_the_same_checks_and_fill_policy(tmp_path):
    path = tmp_path / "long.csv"
    rows = ["sku,week,sold"] + [f"{s},{d},{'' if (s, k) == ('a', 3) else k + 1}" for s in "ab"
                                for k, d in enumerate(str(np.datetime64("2024-01-01") + 7 * i) for i in range(12))]  # fmt: skip
    path.write_text("\n".join(rows) + "\n")
    common = ("-q", "forecast", "backtest", path, "--series-col", "sku", "--date-col", "week", "--value-col", "sold",
              "--horizon", "2", "--origins", "1", "--models", "naive", "--json")  # fmt: skip
    result = invoke(*common, "--out", tmp_path / "strict")
    assert result.exit_code == 3 and "column 'sold': 1 rows without a finite value (1 blank)" in result.output
    result = invoke(*common, "--out", tmp_path / "filled", "--fill-missing", "zero")
    assert result.exit_code == 0, result.output
    assert np.isfinite(json.loads((tmp_path / "filled" / "metrics.json").read_text())["table"]["naive"]["mean"]["mae"])
