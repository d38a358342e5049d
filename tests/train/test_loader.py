"""One loader from a checkpoint to a model: strict about the model configuration, for every task."""

import pytest
import torch

from dlcli.errors import CheckpointError
from dlcli.kws.model import XceptionConfig, build_model
from dlcli.train.checkpoint import build_checkpoint, save_checkpoint
from dlcli.train.loader import load_model


def _kws_checkpoint(path, **model_config):
    config = XceptionConfig(classes=3, frontend="logmel", width=0.125, middle_blocks=0, pooling="mean")
    from dlcli.config import to_dict

    values = {**to_dict(config), **model_config}
    checkpoint = build_checkpoint(task="kws", model=build_model(config), model_config=values, labels=["a", "b", "c"])
    return save_checkpoint(checkpoint, path)


def test_the_loader_builds_the_model_and_loads_its_weights(tmp_path):
    path = _kws_checkpoint(tmp_path / "model.pt")
    loaded = load_model(path, "kws", XceptionConfig, build_model)
    assert isinstance(loaded.config, XceptionConfig) and loaded.config.classes == 3
    assert not loaded.model.training
    saved = torch.load(path, weights_only=True)["state_dict"]
    assert all(torch.equal(saved[k], v) for k, v in loaded.model.state_dict().items())


def test_an_unknown_model_key_is_a_checkpoint_error_naming_the_closest_field(tmp_path):
    path = _kws_checkpoint(tmp_path / "model.pt", middle_blockz=2)
    with pytest.raises(CheckpointError, match="did you mean 'middle_blocks'") as caught:
        load_model(path, "kws", XceptionConfig, build_model)
    assert str(path) in str(caught.value)


def test_tts_synthesis_refuses_a_model_config_key_it_does_not_know(tmp_path):
    from dlcli.tts.synth import Synthesizer, default_model_path

    checkpoint = torch.load(default_model_path(), weights_only=True)
    checkpoint["model_config"]["decoder_dimension"] = 1024  # a field this dlcli has no idea of
    path = save_checkpoint(checkpoint, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="unknown key 'decoder_dimension'"):
        Synthesizer(path)
