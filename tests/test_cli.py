import json
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from dlcli import __version__
from dlcli.cli import app
from dlcli.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_version_and_info():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output
    result = runner.invoke(app, ["info", "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert facts["device"] == "cpu" or facts["cuda_available"]
    assert {"torch", "bf16_supported", "threads"} <= facts.keys()


def test_help_does_not_import_torch():
    code = "import sys, dlcli.cli; assert 'torch' not in sys.modules, 'torch imported at start-up'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    result = subprocess.run([sys.executable, "-m", "dlcli", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and "activations" in result.stdout


def _failing_app():
    sub = typer.Typer()

    @sub.command()
    def boom(kind: str) -> None:
        if kind == "input":
            raise InputError("cannot parse", path="data.csv")
        raise ZeroDivisionError("division by zero")

    app.add_typer(sub, name="boomtest")
    return app


def test_errors_are_one_line_with_an_exit_code_and_tracebacks_only_with_v():
    application = _failing_app()
    result = runner.invoke(application, ["boomtest", "boom", "input"])
    assert result.exit_code == 3
    assert result.output.strip() == "error: data.csv: cannot parse"
    result = runner.invoke(application, ["boomtest", "boom", "bug"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines == ["error: ZeroDivisionError: division by zero (run with -v for the traceback)"]
    result = runner.invoke(application, ["-v", "boomtest", "boom", "bug"])
    assert result.exit_code == 1 and "Traceback" in result.output
    result = runner.invoke(application, ["--precision", "fp8", "info"])
    assert result.exit_code == 2


def test_command_line_choices_are_the_registries():
    from dlcli.forecast.cli import ModelKind
    from dlcli.forecast.model import MODEL_KINDS
    from dlcli.kws.cli import TaskName
    from dlcli.kws.data import TASKS

    assert [m.value for m in TaskName] == list(TASKS)
    assert [m.value for m in ModelKind] == list(MODEL_KINDS)


def test_preset_choices_match_the_presets_they_name():
    from dlcli.kws.cli import ModelName
    from dlcli.kws.model import PRESETS as KWS_PRESETS
    from dlcli.tts.cli import Preset
    from dlcli.tts.config import PRESETS as TTS_PRESETS

    assert {m.value for m in ModelName} == set(KWS_PRESETS)
    assert {m.value for m in Preset} == set(TTS_PRESETS)


def _commands():
    import typer

    root = typer.main.get_command(app)
    for name, command in root.commands.items():
        for sub_name, sub in getattr(command, "commands", {name: command}).items():
            if getattr(sub.callback, "__module__", "").startswith("dlcli."):  # not commands tests mount
                yield (f"{name} {sub_name}" if sub is not command else name), sub


def test_every_command_that_prints_results_has_json():
    rows_in_their_own_format = {"kws infer"}  # --format jsonl writes one JSON object per scored file
    missing = [
        name
        for name, command in _commands()
        if name not in rows_in_their_own_format and not any("--json" in p.opts for p in command.params)
    ]
    assert missing == []


def test_every_training_command_prints_its_config():
    for name, command in _commands():
        if name in ("kws train", "forecast train", "tts train", "distill", "activations study"):
            assert any("--print-config" in p.opts for p in command.params), name
