from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "speech_commands"


def tiny_config(task: str = "12-class", **train):
    """A model and run small enough for tests on 2 CPU cores (seconds, not minutes)."""
    from dlcli.kws.config import default_config

    config = default_config("small")
    config.data.task = task
    config.data.max_train_clips = 48
    config.model.width = 0.125
    config.model.middle_blocks = 1
    config.train.epochs = 1
    config.train.batch_size = 16
    config.train.log_every = 1
    for key, value in train.items():
        setattr(config.train, key, value)
    return config


@pytest.fixture(scope="session")
def sample_corpus() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One tiny 12-class run on the sample corpus, shared by the tests that need a checkpoint."""
    import torch

    from dlcli.kws.train import train

    torch.set_num_threads(min(2, torch.get_num_threads()))
    run = tmp_path_factory.mktemp("kws") / "run"
    train(SAMPLE, run, tiny_config())
    return run


@pytest.fixture(autouse=True)
def clip_cache_in_the_test_folder(tmp_path, monkeypatch):
    """Decoded clips of the tests' temporary corpora go to the test's own folder, not the user's cache."""
    from dlcli.kws import clipcache

    monkeypatch.setattr(clipcache, "clip_cache_folder", lambda: tmp_path / "kws-clips")
