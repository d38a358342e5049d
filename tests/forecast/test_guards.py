"""Bad values, duplicates, off-grid dates and bad options: named and refused, never a NaN in an output."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
import torch

from dlcli.errors import InputError
from dlcli.forecast import evaluate as evaluate_module
from dlcli.forecast import train as train_module
from dlcli.forecast.data import DataConfig, load_panel
from tests.forecast.conftest import ROOT, SAMPLE, SAMPLE_LONG, invoke
from tests.forecast.test_data import TABLES

ROW = "2,2017-12-24,1,10,-2.0,True"  # a row of the small Favorita train.csv


def favorita_with(tmp_path, train_csv: str):
    folder = tmp_path / "favorita"
    folder.mkdir()
    for name, text in TABLES.items():
        (folder / name).write_text(train_csv if name == "train.csv" else text)
    return folder


def sample_with_sales(tmp_path, value: str):
    """The sample data with one unit_sales of train.csv replaced by ``value`` (text)."""
    data = tmp_path / f"sample-{value or 'blank'}"
    shutil.copytree(SAMPLE, data)
    lines = (SAMPLE / "train.csv").read_text().splitlines()
    fields = lines[5000].split(",")
    fields[4] = value
    lines[5000] = ",".join(fields)
    (data / "train.csv").write_text("\n".join(lines) + "\n")
    return data


def strict_json(line: str):
    def refuse(constant):
        raise ValueError(f"bare {constant} in metrics.jsonl")

    return json.loads(line, parse_constant=refuse)


# ------------------------------------------------------------------ 1. non-finite and missing values


@pytest.mark.parametrize("value, kind", [("nan", "1 NaN"), ("inf", "1 infinite"), ("", "1 blank")])
def test_a_nan_inf_or_blank_sale_is_named_with_file_column_and_count(tmp_path, value, kind):
    folder = favorita_with(tmp_path, TABLES["train.csv"].replace(ROW, ROW.replace("-2.0", value)))
    result = invoke("forecast", "prepare", folder)
    assert result.exit_code == 3, result.output
    assert result.output.strip().splitlines() == [
        f"error: {folder / 'train.csv'}: column 'unit_sales': 1 rows without a finite value ({kind}), "
        "e.g. store 1 item 10 on 2017-12-24; pass --fill-missing zero (count them as 0) or drop (drop those rows)"
    ]


def test_long_format_values_and_inputs_are_checked_but_future_rows_stay_allowed(tmp_path):
    path = tmp_path / "long.csv"
    rows = (
        "sku,week,sold,price\na,2024-01-01,3,1.0\na,2024-01-08,{value},1.5\nb,2024-01-08,1,{price}\na,2024-01-15,,1.2\n"
    )
    config = DataConfig(series_col="sku", date_col="week", value_col="sold", future_cols=["price"])
    path.write_text(rows.format(value="5", price="2.0"))
    assert load_panel(path, config).n_observed == 2  # the empty value of the last week is a future row
    path.write_text(rows.format(value="", price="2.0"))
    with pytest.raises(InputError, match=r"long\.csv: column 'sold': 1 rows without a finite value \(1 blank\), e\.g\. series a on 2024-01-08"):  # fmt: skip
        load_panel(path, config)
    path.write_text(rows.format(value="5", price="inf"))
    with pytest.raises(InputError, match=r"column 'price': 1 rows without a finite value \(1 infinite\), e\.g\. series b"):  # fmt: skip
        load_panel(path, config)
    path.write_text(rows.format(value="nan", price="nan"))
    zero = load_panel(path, DataConfig(**{**vars(config), "fill_missing": "zero"}))
    np.testing.assert_array_equal(zero.values, [[3, 0], [0, 1]])
    np.testing.assert_allclose(zero.series_known["price"], [[1.0, 1.5, 1.2], [0, 0, 0]])
    dropped = load_panel(path, DataConfig(**{**vars(config), "fill_missing": "drop"}))
    np.testing.assert_array_equal(dropped.values, [[3, 0], [0, 1]])
    np.testing.assert_allclose(dropped.series_known["price"], [[1.0, 0, 1.2], [0, 0, 0]])  # the row is gone


def test_fill_missing_zero_or_drop_on_favorita(tmp_path):
    folder = favorita_with(tmp_path, TABLES["train.csv"].replace(ROW, ROW.replace("-2.0", "nan")))
    zero = load_panel(folder, DataConfig(fill_missing="zero"))
    assert np.isfinite(zero.values).all() and zero.values[0, 1] == 0
    assert zero.series_known["onpromotion"][0, 1] == 1  # the row stays, with its promotion
    dropped = load_panel(folder, DataConfig(fill_missing="drop"))
    assert np.isfinite(dropped.values).all() and dropped.series_known["onpromotion"][0, 1] == 0
    result = invoke("forecast", "prepare", folder, "--fill-missing", "zero", "--json")
    assert result.exit_code == 0, result.output
    (folder / "train.csv").write_text(TABLES["train.csv"])
    (folder / "transactions.csv").write_text(TABLES["transactions.csv"] + "2017-12-24,1,inf\n")
    with pytest.raises(InputError, match=r"transactions\.csv: column 'transactions': 1 rows .*\(1 infinite\)"):
        load_panel(folder)
    transactions = load_panel(folder, DataConfig(fill_missing="zero")).group_past.values
    assert np.isfinite(transactions).all() and transactions[0, 1, 0] == 0  # counted as absent


def test_predict_refuses_nan_data_even_from_a_model_trained_on_clean_data(trained, tmp_path):
    data = sample_with_sales(tmp_path, "nan")
    out = tmp_path / "forecast.csv"
    result = invoke("forecast", "predict", trained, data, "--out", out)
    assert result.exit_code == 3, result.output
    assert "train.csv: column 'unit_sales': 1 rows without a finite value (1 NaN)" in result.output
    assert not out.exists()
    result = invoke("forecast", "predict", trained, data, "--out", out, "--fill-missing", "zero")
    assert result.exit_code == 0, result.output
    assert pl.read_csv(out)["unit_sales"].is_finite().all()


def test_training_on_nan_data_stops_before_training_with_exit_3(tiny_config, tmp_path):
    run = tmp_path / "run"
    result = invoke("forecast", "train", sample_with_sales(tmp_path, "inf"), "--config", tiny_config, "--out", run)
    assert result.exit_code == 3 and "column 'unit_sales'" in result.output, result.output
    assert not (run / "best.pt").exists() and not (run / "metrics.jsonl").exists()


def test_training_without_a_finite_validation_exits_7_and_writes_no_bare_nan(tiny_config, tmp_path, monkeypatch):
    def no_finite_validation(model, loader, *args, **kwargs):
        return {"loss": float("nan"), "nwrmsle": float("nan"), "rmsle": float("inf"), "male": float("nan")}

    monkeypatch.setattr(train_module, "evaluate_windows", no_finite_validation)
    run = tmp_path / "run"
    result = invoke("-q", "forecast", "train", SAMPLE, "--config", tiny_config, "--out", run, "--steps-per-epoch", "2")
    assert result.exit_code == 7, result.output
    assert "without a finite validation val_nwrmsle" in result.output and not (run / "best.pt").exists()
    records = [strict_json(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["val_nwrmsle"] is None and records[-1]["val_rmsle"] is None


def test_predict_and_evaluate_refuse_a_model_that_gives_non_finite_forecasts(trained, tmp_path):
    checkpoint = torch.load(trained / "best.pt", weights_only=True)
    for name, weights in checkpoint["state_dict"].items():
        if name.startswith("head."):
            weights.fill_(float("nan"))
    damaged = tmp_path / "damaged" / "best.pt"
    damaged.parent.mkdir()
    torch.save(checkpoint, damaged)
    out = tmp_path / "forecast.parquet"
    result = invoke("forecast", "predict", damaged, SAMPLE, "--out", out)
    assert result.exit_code == 4, result.output
    assert "non-finite forecasts for 56 of 56 series (e.g. 1/" in result.output and not out.exists()
    result = invoke("forecast", "evaluate", damaged, SAMPLE, "--out", tmp_path / "eval", "--baselines", "none")
    assert result.exit_code == 4 and not (tmp_path / "eval" / "metrics.csv").exists()


# ------------------------------------------------------------------ 2. silent surprises


def test_duplicate_rows_are_reported_or_resolved_as_asked(tmp_path):
    folder = favorita_with(tmp_path, TABLES["train.csv"] + "9,2017-12-23,1,10,30.0,\n")
    result = invoke("forecast", "prepare", folder)
    assert result.exit_code == 3
    assert "1 duplicate rows (the same date, store_nbr and item_nbr as an earlier row), e.g. store 1 item 10 on 2017-12-23" in result.output  # fmt: skip
    assert load_panel(folder, DataConfig(duplicates="first")).values[0, 0] == 3.0
    assert load_panel(folder, DataConfig(duplicates="last")).values[0, 0] == 30.0
    path = tmp_path / "long.csv"
    path.write_text("series_id,date,value\na,2024-01-01,3\na,2024-01-02,4\na,2024-01-02,5\n")
    result = invoke("forecast", "prepare", path)
    assert result.exit_code == 3 and "1 duplicate rows (the same series_id and date" in result.output
    assert "series a on 2024-01-02" in result.output
    result = invoke("forecast", "prepare", path, "--duplicates", "last", "--json")
    assert result.exit_code == 0, result.output


def test_one_date_off_a_weekly_grid_is_named_instead_of_turning_the_data_daily(tmp_path):
    frame = pl.read_csv(SAMPLE_LONG)
    first = frame["series_id"][0]
    moved = frame.with_columns(
        pl.when((pl.col("series_id") == first) & (pl.col("date") == "2014-01-13"))
        .then(pl.lit("2014-01-15"))
        .otherwise(pl.col("date"))
        .alias("date")
    )
    path = tmp_path / "weekly.csv"
    moved.write_csv(path)
    result = invoke("forecast", "prepare", path)
    assert result.exit_code == 3, result.output
    assert f"{path}: 1 rows are off the weekly grid of the other dates (Mondays), e.g. series {first} on 2014-01-15" in result.output  # fmt: skip
    assert "--frequency D" in result.output


def test_init_from_with_a_conflicting_model_option_names_both_values(trained, tiny_config, tmp_path):
    for hidden in ("64", "128"):  # 128 is the default: given on the command line, it still conflicts
        result = invoke("forecast", "train", SAMPLE, "--config", tiny_config, "--out", tmp_path / hidden,
                        "--init-from", trained / "best.pt", "--hidden", hidden, "--steps-per-epoch", "1")  # fmt: skip
        assert result.exit_code == 2, result.output
        assert f"has hidden 16, this run asks for hidden {hidden}" in result.output


@pytest.mark.parametrize("horizon", ["0", "-2", "17"])
def test_predict_horizon_must_be_between_1_and_the_trained_horizon(trained, tmp_path, horizon):
    out = tmp_path / "forecast.csv"
    result = invoke("forecast", "predict", trained, SAMPLE, "--out", out, "--horizon", horizon)
    assert result.exit_code == 2, result.output
    assert f"--horizon must be 1..16 (the model forecasts at most 16 periods), not {horizon}" in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    "options, message",
    [
        (["--hidden", "0"], "model.hidden must be at least 1, not 0"),
        (["--steps-per-epoch", "0"], "steps_per_epoch must be at least 1, not 0"),
        (["--min-history", "-5"], "split.min_history must not be negative"),
        (["--test-days", "-16"], "--test-days must be a multiple of the horizon"),
    ],
)
def test_bad_numeric_training_options_are_one_line_and_exit_2(tiny_config, tmp_path, options, message):
    result = invoke("forecast", "train", SAMPLE, "--config", tiny_config, "--out", tmp_path / "run", *options)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_bad_numeric_predict_and_evaluate_options_exit_2(trained, tmp_path):
    result = invoke("forecast", "predict", trained, SAMPLE, "--out", tmp_path / "f.csv", "--batch-size", "0")
    assert result.exit_code == 2 and "--batch-size must be at least 1, not 0" in result.output
    result = invoke("forecast", "evaluate", trained, SAMPLE, "--out", tmp_path / "e", "--test-periods", "-1")
    assert result.exit_code == 2 and "--test-periods must be at least 1, not -1" in result.output


# ------------------------------------------------------------------ 3. Nixtla's long format


def test_nixtla_long_format_is_recognised_without_column_options(tmp_path):
    path = tmp_path / "nixtla.csv"
    pl.read_csv(SAMPLE_LONG).select(
        pl.col("series_id").alias("unique_id"), pl.col("date").alias("ds"), pl.col("value").alias("y")
    ).write_csv(path)
    result = invoke("forecast", "prepare", path, "--json")
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output[result.output.index("{") :])
    assert facts["frequency"] == "W" and facts["series"] == pl.read_csv(SAMPLE_LONG)["series_id"].n_unique()
    config = DataConfig()
    panel = load_panel(path, config)
    assert panel.keys.columns == ["unique_id"] and config.value_col == "y"  # recorded for the checkpoint


# ------------------------------------------------------------------ 4. plot labels


def test_example_plot_titles_use_ordinals_and_show_each_series_once(trained, tmp_path, monkeypatch):
    seen = {}

    def capture(dates, actual, forecasts, titles, path, **kwargs):
        seen["titles"] = titles
        seen["rows"] = len(actual)
        return path

    monkeypatch.setattr(evaluate_module, "plot_examples", capture)
    evaluate_module.evaluate([trained], SAMPLE, tmp_path / "eval", baselines=["average"])
    titles = seen["titles"]
    assert not any("1th" in t or "2th" in t or "3th" in t for t in titles), titles
    assert any("1st percentile" in t for t in titles) or any("2nd percentile" in t for t in titles), titles
    keys = [t.split(" - ")[0] for t in titles]
    assert len(keys) == len(set(keys)) == seen["rows"], titles
    assert [evaluate_module.ordinal(n) for n in (0, 1, 2, 3, 4, 11, 12, 13, 21, 22, 50, 101)] == [
        "0th", "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "50th", "101st"
    ]  # fmt: skip


# ------------------------------------------------------------------ 5. | head


def test_a_closed_stdout_pipe_stops_quietly_with_141(tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head -1` that has already exited
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run([sys.executable, "-m", "dlcli", "forecast", "prepare", str(SAMPLE)], stdout=write_end,
                              stderr=subprocess.PIPE, env=env, timeout=120)  # fmt: skip
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr.decode()
    assert done.stderr.decode().strip() == ""
