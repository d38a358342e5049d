"""Shared fixtures: the committed sample data, a tiny configuration, one tiny model trained once."""

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlcli.cli import app

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "favorita"
SAMPLE_LONG = ROOT / "sample_data" / "favorita-long" / "weekly.csv"
TINY = {
    "model": {
        "hidden": 16,
        "context": [32],
        "head": 16,
        "embedding_dims": {"store_nbr": 4, "item_nbr": 8},
        "default_embedding": 3,
        "identity_embedding": 8,
        "level_periods": 28,
    },
    "split": {"min_history": 60},
    "train": {"epochs": 1, "batch_size": 16, "lr": 0.003, "log_every": 2},
    "steps_per_epoch": 6,
}

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def write_config(path: Path, **sections) -> Path:
    config = {key: (dict(value) if isinstance(value, dict) else value) for key, value in TINY.items()}
    for key, value in sections.items():
        if isinstance(value, dict):
            config.setdefault(key, {}).update(value)
        else:
            config[key] = value
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory) -> Path:
    return write_config(tmp_path_factory.mktemp("config") / "tiny.yaml")


@pytest.fixture(scope="session")
def trained(tmp_path_factory, tiny_config) -> Path:
    """A trimmed seq2seq (history 28) trained for a few steps on the sample data."""
    run = tmp_path_factory.mktemp("runs") / "tiny"
    result = invoke("-q", "--seed", "0", "forecast", "train", SAMPLE, "--config", tiny_config, "--out", run,
                    "--model", "trimmed", "--history", "28")  # fmt: skip
    assert result.exit_code == 0, result.output
    return run
