"""What the TTS tests share: the committed sample corpora, the CLI runner, the flite marker."""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dlcli.cli import app

ROOT = Path(__file__).resolve().parents[2]
UNALIGNED = ROOT / "sample_data" / "tts"  # text only: durations are learned
ALIGNED = ROOT / "sample_data" / "tts-aligned"  # flite's phones and durations in metadata.csv
runner = CliRunner()
needs_flite = pytest.mark.skipif(not shutil.which("flite"), reason="flite is needed to read text into phones")


def invoke(*args, input=None):
    """``dlcli ARGS`` through the CLI runner, every argument as a string."""
    return runner.invoke(app, [str(a) for a in args], input=input)
