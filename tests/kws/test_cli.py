"""The commands end to end on the sample corpus, with a tiny model."""

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dlcli.cli import app
from dlcli.kws.predictor import load_predictor

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["-q", "kws", *map(str, args)])


def test_train_writes_a_complete_run_and_resumes(tmp_path, sample_corpus):
    out = tmp_path / "run"
    args = ["train", sample_corpus, "--out", out, "--model", "small", "--width", "0.125", "--middle-blocks", "0"]
    args += ["--task", "left-right", "--epochs", "1", "--batch-size", "16", "--max-train-clips", "32"]
    args += ["--activation", "modulus"]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    for name in ("best.pt", "last.pt", "metrics.jsonl", "curves.png", "config.yaml"):
        assert (out / name).is_file(), name
    assert "activation: modulus" in (out / "config.yaml").read_text()
    checkpoint = torch.load(out / "best.pt", weights_only=True)
    assert checkpoint["task"] == "kws" and checkpoint["labels"] == ["left", "right", "_unknown_"]
    assert checkpoint["features"]["sample_rate"] == 16000 and checkpoint["extra"]["task"] == "left-right"
    again = invoke(*args)  # an existing run is never overwritten silently
    assert again.exit_code == 2 and "--resume" in again.output
    more = invoke(*[a if a != "1" else "2" for a in args], "--resume")
    assert more.exit_code == 0, more.output
    epochs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in epochs if r["event"] == "epoch"] == [1, 2]


def test_evaluate_reports_per_class_metrics_and_false_accepts(trained_run, sample_corpus, tmp_path):
    result = invoke("evaluate", trained_run, sample_corpus, "--json", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["task"] == "12-class" and report["split"] == "testing"
    assert 0.0 <= report["accuracy"] <= 1.0
    rows = {row["label"]: row for row in report["per_class"]}
    assert set(rows) == set(report["labels"])
    assert sum(r["support"] for r in rows.values()) == report["clips"] == np.sum(report["confusion"])
    assert report["false_accepts"]["hours"] > 0 and "false_accepts_per_hour" in report["false_accepts"]
    assert (tmp_path / "evaluation-testing-confusion.png").read_bytes()[:4] == b"\x89PNG"
    text = invoke("evaluate", trained_run, sample_corpus, "--split", "validation", "--out", tmp_path)
    assert text.exit_code == 0 and "| class | precision | recall | f1-score | support |" in text.output


def test_infer_skips_unreadable_files_with_exit_code_5(trained_run, sample_corpus, tmp_path):
    folder = tmp_path / "clips"
    shutil.copytree(sample_corpus / "yes", folder / "nested")
    (folder / "broken.wav").write_bytes(b"not audio at all")
    out = tmp_path / "scores.csv"
    result = invoke("infer", trained_run, folder, "--out", out, "--top-k", "2")
    assert result.exit_code == 5, result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 8 and set(rows[0]) == {"path", "label", "score", "label_2", "score_2"}
    assert all(0 <= float(r["score"]) <= 1 and r["label"] in load_predictor(trained_run).labels for r in rows)
    strict = tmp_path / "strict.jsonl"
    result = invoke("infer", trained_run, folder, "--out", strict, "--strict")
    assert result.exit_code == 3 and "broken.wav" in result.output and not strict.exists()
    jsonl = invoke("infer", trained_run, folder / "nested", "--format", "jsonl")
    assert jsonl.exit_code == 0
    first = json.loads(jsonl.output.splitlines()[0])
    assert len(first["top"]) == 3 and first["top"][0]["label"] == first["label"]


def test_infer_stream_writes_timestamped_rows(trained_run, sample_corpus, tmp_path):
    out = tmp_path / "detections.csv"
    result = invoke(
        "infer", trained_run, sample_corpus / "_background_noise_", "--stream", "--threshold", "0.05", "--out", out
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert rows, "a threshold of 0.05 must fire on something"
    assert set(rows[0]) == {"path", "start_s", "end_s", "label", "score"}
    assert all(0 <= float(r["start_s"]) < float(r["end_s"]) <= 5.0 + 1e-6 for r in rows)
    assert all(r["label"] not in ("_unknown_", "_silence_") for r in rows)


def test_export_onnx_matches_torch_and_runs_in_evaluate(trained_run, sample_corpus, tmp_path):
    pytest.importorskip("onnxruntime")
    onnx_path = tmp_path / "kws.onnx"
    result = invoke("export", trained_run, "--onnx", onnx_path, "--int8", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["max_abs_diff"] < 1e-4
    assert report["onnx_bytes"] == onnx_path.stat().st_size
    assert report["onnx_int8_bytes"] == (tmp_path / "kws-int8.onnx").stat().st_size
    torch_model, onnx_model = load_predictor(trained_run, device="cpu"), load_predictor(onnx_path)
    clips = np.random.default_rng(0).standard_normal((5, 16000)).astype(np.float32)
    assert np.abs(torch_model.logits(clips) - onnx_model.logits(clips)).max() < 1e-4
    assert onnx_model.labels == torch_model.labels and onnx_model.task == "12-class"
    import onnx

    from dlcli.kws.model import SeparableConv1d

    operators = [node.op_type for node in onnx.load(str(tmp_path / "kws-int8.onnx")).graph.node]
    pointwise = sum(isinstance(m, SeparableConv1d) for m in torch_model.model.modules())
    assert pointwise > 0 and operators.count("MatMulInteger") == pointwise + 1  # + the classifier
    assert operators.count("MatMul") == 1  # only the mel filterbank stays float (power spectra need the range)
    int8 = load_predictor(tmp_path / "kws-int8.onnx")
    assert int8.logits(clips).shape == (5, len(torch_model.labels))
    evaluated = invoke("evaluate", onnx_path, sample_corpus, "--json", "--out", tmp_path)
    assert evaluated.exit_code == 0, evaluated.output


def test_bad_checkpoints_and_inputs_get_one_line_and_their_exit_code(trained_run, sample_corpus, tmp_path):
    from dlcli.train import build_checkpoint, save_checkpoint

    other = save_checkpoint(build_checkpoint(task="forecast", model=torch.nn.Linear(1, 1)), tmp_path / "other.pt")
    result = invoke("infer", other, sample_corpus / "yes")
    assert result.exit_code == 4 and "'forecast' checkpoint" in result.output
    (tmp_path / "empty").mkdir()
    result = invoke("infer", trained_run / "best.pt", tmp_path / "empty")
    assert result.exit_code == 3 and "no audio files" in result.output
    result = invoke("evaluate", trained_run, tmp_path / "empty")
    assert result.exit_code == 3 and "no audio clips" in result.output
    corrupted = tmp_path / "corrupted.pt"
    corrupted.write_bytes((trained_run / "best.pt").read_bytes()[:5000])
    result = invoke("evaluate", corrupted, sample_corpus)
    assert result.exit_code == 4 and "corrupted" in result.output


def test_bench_measures_model_and_end_to_end_throughput(trained_run, sample_corpus):
    pytest.importorskip("onnxruntime")
    result = invoke(
        "bench",
        trained_run,
        "--folder",
        sample_corpus / "yes",
        "--clips",
        "16",
        "--batch-size",
        "8",
        "--rounds",
        "1",
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["parameters"] > 0 and report["macs_per_clip"] > report["parameters"]
    assert report["onnx_max_abs_diff"] < 1e-4 and report["infer_files"] == 8
    for name in ("torch", "onnx"):
        assert report[f"{name}_model_clips_per_second"] > 0 and report[f"{name}_infer_clips_per_second"] > 0
        assert report[f"{name}_infer_vs_model"] == pytest.approx(
            report[f"{name}_infer_clips_per_second"] / report[f"{name}_model_clips_per_second"], rel=0.01, abs=5e-4
        )  # the report rounds the ratio to 3 decimals
