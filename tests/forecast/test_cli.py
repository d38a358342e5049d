import json
import shutil

import numpy as np
import polars as pl
import torch

from dlcli.files import FileLock
from tests.forecast.conftest import SAMPLE, SAMPLE_LONG, TINY, invoke, write_config


def test_training_writes_a_run_that_predict_and_evaluate_use(trained, tmp_path):
    assert {"best.pt", "last.pt", "curves.png", "metrics.jsonl", "config.yaml", "train.log"} <= {p.name for p in trained.iterdir()}  # fmt: skip
    checkpoint = torch.load(trained / "best.pt", weights_only=True)
    assert checkpoint["task"] == "forecast" and checkpoint["features"]["history"] == 28
    assert checkpoint["features"]["dates"]["test_origins"] == ["2017-06-29", "2017-07-15", "2017-07-31"]
    assert "trimmed model, history 28" in (trained / "train.log").read_text()

    out = tmp_path / "forecast.parquet"
    result = invoke("forecast", "predict", trained / "best.pt", SAMPLE, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{") :])
    forecast = pl.read_parquet(out)
    assert forecast.columns == ["store_nbr", "item_nbr", "date", "unit_sales", "fallback"]
    assert forecast.filter(pl.col("fallback"))["item_nbr"].n_unique() >= 1  # test.csv's new items
    assert forecast.height == summary["series"] * 16 == 56 * 16
    assert forecast["unit_sales"].min() >= 0 and forecast["unit_sales"].is_finite().all()
    assert str(forecast["date"].min()) == "2017-08-16" and summary["unseen_series"] == 3
    test_pairs = pl.read_csv(SAMPLE / "test.csv").select("store_nbr", "item_nbr").unique()
    assert test_pairs.join(forecast, on=["store_nbr", "item_nbr"], how="anti").height == 0  # every test.csv pair
    assert not list(tmp_path.glob(".*.tmp"))

    report_dir = tmp_path / "evaluation"
    baselines = "random,average,seasonal-naive"  # LightGBM: test_metrics (slow with 2 threads on a busy machine)
    result = invoke("forecast", "evaluate", trained, SAMPLE, "--out", report_dir, "--baselines", baselines)
    assert result.exit_code == 0, result.output
    report = json.loads((report_dir / "metrics.json").read_text())
    assert {"tiny", "average", "random", "seasonal-naive", "oracle"} <= set(report["table"])
    assert report["table"]["oracle"]["mean"]["rmsle"] < report["table"]["average"]["mean"]["rmsle"]
    assert report["table"]["tiny"]["gap_to_oracle"]["rmsle"] > 0
    rows = pl.read_csv(report_dir / "metrics.csv")
    assert rows.filter((pl.col("model") == "tiny") & (pl.col("day") > 0)).height == 3 * 16
    for name in ("daily.png", "errors.png", "examples.png"):
        assert (report_dir / name).read_bytes()[:4] == b"\x89PNG"
    assert "| tiny |" in (report_dir / "report.md").read_text()


def test_a_second_run_on_a_locked_output_exits_6(trained, tmp_path):
    out = tmp_path / "forecast.csv"
    with FileLock(out.with_name(out.name + ".lock")):
        result = invoke("forecast", "predict", trained, SAMPLE, "--out", out)
    assert result.exit_code == 6
    assert "another run is already writing" in result.output and not out.exists()
    with FileLock(trained / ".lock"):
        result = invoke("forecast", "train", SAMPLE, "--out", trained, "--resume")
    assert result.exit_code == 6


def test_training_is_deterministic_with_a_seed(tiny_config, tmp_path):
    weights = []
    for name in ("a", "b"):
        args = ["-q", "--seed", "3", "forecast", "train", SAMPLE, "--config", tiny_config, "--out", tmp_path / name]
        result = invoke(*args, "--history", "14", "--steps-per-epoch", "3", "--valid-periods", "0")
        assert result.exit_code == 0, result.output
        weights.append(torch.load(tmp_path / name / "last.pt", weights_only=True)["state_dict"])
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_warm_start_keeps_yesterdays_weights_and_grows_embeddings(trained, tiny_config, tmp_path):
    data = tmp_path / "today"
    shutil.copytree(SAMPLE, data)
    (data / "items.csv").write_text((SAMPLE / "items.csv").read_text() + "999,DAIRY,1160,1\n")
    rows = pl.read_csv(data / "train.csv", infer_schema=False)
    new = pl.DataFrame({"id": ["999999"], "date": ["2017-01-05"], "store_nbr": ["1"], "item_nbr": ["999"],
                        "unit_sales": ["4.0"], "onpromotion": ["False"]})  # fmt: skip
    pl.concat([rows, new]).write_csv(data / "train.csv")
    out = tmp_path / "warm"
    result = invoke("forecast", "train", data, "--config", tiny_config, "--out", out, "--init-from", trained / "best.pt",
                    "--lr", "1e-12", "--steps-per-epoch", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    old = torch.load(trained / "best.pt", weights_only=True)
    warm = torch.load(out / "last.pt", weights_only=True)
    assert warm["features"]["vocab"]["item_nbr"][-1] == "999"
    items = [k for k in old["state_dict"] if k.startswith("static.tables.1")][0]
    before, after = old["state_dict"][items], warm["state_dict"][items]
    assert after.shape[0] == before.shape[0] + 1
    torch.testing.assert_close(after[: before.shape[0]], before, atol=1e-6, rtol=0)
    torch.testing.assert_close(after[-1], before[0], atol=1e-6, rtol=0)  # a new item starts as "unknown"
    torch.testing.assert_close(warm["state_dict"]["head.0.weight"], old["state_dict"]["head.0.weight"], atol=1e-6, rtol=0)  # fmt: skip


def test_warm_start_keeps_embedding_widths_when_a_small_vocabulary_grows(tmp_path):
    # item embeddings as wide as the vocabulary (+1): a new item would widen them in a fresh model
    config = write_config(tmp_path / "wide.yaml", model={**TINY["model"], "embedding_dims": {"item_nbr": 300}})
    yesterday = tmp_path / "yesterday"
    result = invoke("-q", "forecast", "train", SAMPLE, "--config", config, "--out", yesterday, "--steps-per-epoch", "1",
                    "--valid-periods", "0")  # fmt: skip
    assert result.exit_code == 0, result.output
    data = tmp_path / "today"
    shutil.copytree(SAMPLE, data)
    (data / "items.csv").write_text((SAMPLE / "items.csv").read_text() + "999,DAIRY,1160,1\n")
    rows = pl.read_csv(data / "train.csv", infer_schema=False)
    new = pl.DataFrame({"id": ["999999"], "date": ["2017-01-05"], "store_nbr": ["1"], "item_nbr": ["999"],
                        "unit_sales": ["4.0"], "onpromotion": ["False"]})  # fmt: skip
    pl.concat([rows, new]).write_csv(data / "train.csv")
    out = tmp_path / "today-run"
    result = invoke("-q", "forecast", "train", data, "--config", config, "--out", out, "--init-from", yesterday / "last.pt",
                    "--lr", "1e-12", "--steps-per-epoch", "1", "--valid-periods", "0")  # fmt: skip
    assert result.exit_code == 0, result.output
    old = torch.load(yesterday / "last.pt", weights_only=True)["state_dict"]["static.tables.1.weight"]
    warm = torch.load(out / "last.pt", weights_only=True)["state_dict"]["static.tables.1.weight"]
    assert warm.shape == (old.shape[0] + 1, old.shape[1])
    result = invoke("-q", "forecast", "predict", out / "last.pt", data, "--out", tmp_path / "forecast.parquet")
    assert result.exit_code == 0, result.output


def test_long_format_weekly_end_to_end(tmp_path):
    config = write_config(tmp_path / "weekly.yaml", split={"min_history": 20, "horizon": 4, "valid_periods": 4,
                          "gap_periods": 0, "test_periods": 2})  # fmt: skip
    run = tmp_path / "weekly"
    options = ["--static-cols", "family", "--future-cols", "onpromotion", "--weight-col", "weight"]
    result = invoke("forecast", "train", SAMPLE_LONG, "--config", config, "--out", run, "--history", "12", *options)
    assert result.exit_code == 0, result.output
    out = tmp_path / "weekly.csv"
    result = invoke("forecast", "predict", run, SAMPLE_LONG, "--out", out, "--horizon", "3")
    assert result.exit_code == 0, result.output
    forecast = pl.read_csv(out, try_parse_dates=True)
    assert (
        forecast.columns == ["series_id", "date", "value", "fallback"]
        and forecast.height == 3 * forecast["series_id"].n_unique()
    )
    assert (forecast["date"].unique().sort().diff().drop_nulls().dt.total_days() == 7).all()
    result = invoke("forecast", "evaluate", run, SAMPLE_LONG, "--out", tmp_path / "eval", "--baselines", "average,seasonal-naive")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert report["horizon"] == 4 and len(report["origins"]) == 2 and "oracle" not in report["table"]


def test_bad_inputs_exit_with_their_codes(tmp_path, trained):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(np.arange(100, dtype=np.uint8).tobytes())
    result = invoke("forecast", "predict", garbage, SAMPLE, "--out", tmp_path / "f.csv")
    assert result.exit_code == 4 and "garbage.pt" in result.output
    result = invoke("forecast", "predict", trained, tmp_path / "nothing", "--out", tmp_path / "f.csv")
    assert result.exit_code == 3 and "no such file or folder" in result.output
    result = invoke("forecast", "predict", trained, SAMPLE, "--out", tmp_path / "f.csv", "--horizon", "40")
    assert result.exit_code == 2 and "at most 16" in result.output
    result = invoke("forecast", "train", SAMPLE, "--out", tmp_path / "x", "--model", "seq2seq", "--history", "5")
    assert result.exit_code == 2 and "--model trimmed" in result.output
