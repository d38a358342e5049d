"""Options shared by every command: --print-config on each training command."""

import pytest
import yaml
from typer.testing import CliRunner

from dlcli.cli import app

from .conftest import ROOT

runner = CliRunner()


@pytest.mark.parametrize(
    "command, section",
    [
        (["kws", "train", ROOT / "sample_data" / "speech_commands", "--epochs", "3"], "train"),
        (["tts", "train", ROOT / "sample_data" / "tts", "--preset", "tiny", "--epochs", "3"], "train"),
        (["forecast", "train", ROOT / "sample_data" / "favorita", "--epochs", "3"], "train"),
        (["activations", "study", "--quick", "--epochs", "3"], None),
        (
            ["distill", "-t", "{ckpt}", "-s", "{ckpt}", "-u", "{ckpt}", "--dev", ROOT / "sample_data", "--epochs", "3"],
            None,
        ),
    ],
)
def test_print_config_shows_the_resolved_configuration_and_runs_nothing(tmp_path, command, section):
    checkpoint = tmp_path / "any.pt"
    checkpoint.write_bytes(b"")
    out = tmp_path / "run"
    args = [str(checkpoint) if a == "{ckpt}" else str(a) for a in command] + ["--out", str(out), "--print-config"]
    result = runner.invoke(app, ["-q", *args])
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(result.stdout)
    assert (config[section] if section else config)["epochs"] == 3
    assert not out.exists()


def test_activations_list_prints_json():
    import json

    result = runner.invoke(app, ["activations", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert "modulus" in json.loads(result.stdout)


@pytest.mark.parametrize(
    "command",
    [
        ["kws", "train", ROOT / "sample_data" / "speech_commands", "--model", "small"],
        ["tts", "train", ROOT / "sample_data" / "tts", "--preset", "tiny"],
        ["forecast", "train", ROOT / "sample_data" / "favorita"],
    ],
)
def test_root_device_precision_and_seed_are_resolved_once_into_the_run_config(tmp_path, command):
    args = ["--device", "cpu", "--precision", "fp32", "--seed", "17", *map(str, command)]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "run"), "--print-config"])
    assert result.exit_code == 0, result.output
    train = yaml.safe_load(result.stdout)["train"]
    assert (train["device"], train["precision"], train["seed"]) == ("cpu", "fp32", 17)


def test_one_threads_rule_option_then_environment_then_the_commands_default(monkeypatch):
    import torch

    from dlcli.errors import UsageError
    from dlcli.train.device import configure_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("DLCLI_THREADS", raising=False)
        assert configure_threads(None, default=1) == 1
        monkeypatch.setenv("DLCLI_THREADS", "2")
        assert configure_threads(None, default=1) == 2
        assert configure_threads(1, default=2) == 1
        monkeypatch.setenv("DLCLI_THREADS", "many")
        with pytest.raises(UsageError, match="DLCLI_THREADS"):
            configure_threads()
    finally:
        torch.set_num_threads(before)
