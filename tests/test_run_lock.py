"""Every command that writes a run folder holds its lock: a second run into the same --out exits 6."""

import pytest
from typer.testing import CliRunner

from dlcli.cli import app
from dlcli.files import FileLock

from .conftest import ROOT

runner = CliRunner()
SPEECH = ROOT / "sample_data" / "speech_commands"
TTS = ROOT / "sample_data" / "tts"


def _commands(tmp_path, out):
    checkpoint = tmp_path / "any.pt"
    checkpoint.write_bytes(b"")
    return {
        "kws train": ["kws", "train", SPEECH, "--out", out, "--model", "small", "--epochs", "1"],
        "tts train": ["tts", "train", TTS, "--out", out, "--preset", "tiny", "--max-steps", "1"],
        "distill": ["distill", "-t", checkpoint, "-s", checkpoint, "-u", SPEECH, "--dev", SPEECH, "--out", out],
        "activations study": ["activations", "study", "--out", out, "--quick", "--bench-elements", "0"],
    }


@pytest.mark.parametrize("command", ["kws train", "tts train", "distill", "activations study"])
def test_a_second_run_into_a_locked_run_folder_exits_6(tmp_path, command):
    out = tmp_path / "run"
    args = _commands(tmp_path, out)[command]
    with FileLock(out / ".lock"):  # a first run is writing this folder
        result = runner.invoke(app, ["-q", *map(str, args)])
    assert result.exit_code == 6, result.output
    assert "another run is already writing" in result.output
    assert not (out / "metrics.jsonl").exists()


def test_the_lock_is_the_same_file_for_every_writer(tmp_path):
    from dlcli.files import run_folder_lock

    with FileLock(tmp_path / ".lock"), pytest.raises(Exception, match="another run"):
        run_folder_lock(tmp_path).acquire()
