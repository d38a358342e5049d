"""The command-line contract on kws: one clear line instead of a traceback, exit 5 when files are skipped."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from dlcli.cli import app

runner = CliRunner()
LABELS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_unknown_", "_silence_"]


@pytest.fixture(scope="module")
def untrained_12_class(tmp_path_factory):
    """A 12-class kws checkpoint with fresh weights: the commands' plumbing does not need a trained model."""
    from dlcli.config import to_dict
    from dlcli.kws.model import XceptionConfig, build_model
    from dlcli.kws.train import checkpoint_features
    from dlcli.train.checkpoint import build_checkpoint, save_checkpoint

    config = XceptionConfig(classes=12, frontend="logmel", width=0.125, middle_blocks=0, pooling="mean")
    checkpoint = build_checkpoint(
        task="kws",
        model=build_model(config),
        model_config=to_dict(config),
        labels=LABELS,
        features=checkpoint_features(),
        extra={"task": "12-class", "unknown_label": "_unknown_", "silence_label": "_silence_"},
    )
    return save_checkpoint(checkpoint, tmp_path_factory.mktemp("kws") / "model.pt")


def test_infer_into_a_folder_that_is_a_file_is_one_line_and_exit_2(untrained_12_class, sample_corpus, tmp_path):
    blocker = tmp_path / "some_file"
    blocker.write_text("not a folder")
    result = runner.invoke(
        app, ["kws", "infer", str(untrained_12_class), str(sample_corpus / "yes"), "--out", str(blocker / "x.csv")]
    )
    assert result.exit_code == 2, result.output
    assert "some_file is a file" in result.output and "Traceback" not in result.output


def test_evaluate_lists_every_skipped_file_and_exits_5(untrained_12_class, sample_corpus, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(sample_corpus, corpus)
    bad_noise = corpus / "_background_noise_" / "hum.flac"
    bad_clip = next((corpus / "yes").iterdir())
    for path in (bad_noise, bad_clip):
        path.write_text("not audio")
    args = ["-q", "kws", "evaluate", str(untrained_12_class), str(corpus), "--split", "all", "--json"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "report")])
    assert result.exit_code == 5, result.output
    for report in (json.loads(result.stdout), json.loads((tmp_path / "report" / "evaluation-all.json").read_text())):
        assert set(report["skipped"]) == {str(bad_noise), str(bad_clip)}


def test_train_prints_its_summary_as_json(sample_corpus, tmp_path):
    out = tmp_path / "run"
    args = ["kws", "train", sample_corpus, "--out", out, "--model", "small", "--width", "0.125", "--middle-blocks", "0"]
    args += ["--task", "left-right", "--epochs", "1", "--batch-size", "16", "--max-train-clips", "32", "--json"]
    result = runner.invoke(app, ["-q", *map(str, args)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["run"] == str(out) and summary["epochs"] == 1 and summary["best"] == str(out / "best.pt")


def test_train_picks_the_small_model_on_a_cpu_and_says_so(sample_corpus, tmp_path, monkeypatch):
    import yaml

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    result = runner.invoke(app, ["kws", "train", str(sample_corpus), "--out", str(tmp_path / "r"), "--print-config"])
    assert result.exit_code == 0, result.output
    assert "small model" in result.stderr
    assert yaml.safe_load(result.stdout)["model"]["frontend"] == "logmel"  # the small model's front end
    explicit = runner.invoke(
        app,
        ["kws", "train", str(sample_corpus), "--out", str(tmp_path / "r"), "--model", "xception1d", "--print-config"],
    )
    assert yaml.safe_load(explicit.stdout)["model"]["frontend"] == "waveform"
