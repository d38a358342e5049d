from dataclasses import dataclass, field

import pytest

from dlcli.config import load_config, save_config, to_dict
from dlcli.errors import ConfigError
from dlcli.train import TrainConfig


@dataclass
class Model:
    width: int = 64
    activation: str = "relu"


@dataclass
class Run:
    model: Model = field(default_factory=Model)
    train: TrainConfig = field(default_factory=TrainConfig)
    name: str | None = None


def test_yaml_then_options_override_defaults(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  width: 32\ntrain:\n  lr: 1e-3\n  epochs: 5\n")
    config = load_config(Run, path, {"train.epochs": 7, "model.activation": None})
    assert config.model.width == 32 and config.train.lr == 0.001 and config.train.epochs == 7
    assert config.model.activation == "relu"


def test_unknown_keys_suggest_the_closest_name(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  learning_rate: 0.1\n  lr_rate: 1\n")
    with pytest.raises(ConfigError, match="unknown key 'learning_rate' in section 'train'"):
        load_config(Run, path)
    path.write_text("modle:\n  width: 3\n")
    with pytest.raises(ConfigError, match="did you mean 'model'"):
        load_config(Run, path)


def test_wrong_types_and_bad_yaml_are_config_errors(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  width: wide\n")
    with pytest.raises(ConfigError, match="'model.width' must be an integer"):
        load_config(Run, path)
    path.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Run, path)
    path.write_text("train:\n  optimizer: lbfgs\n")
    with pytest.raises(ConfigError, match="optimizer must be adam"):
        load_config(Run, path)


def test_resolved_config_round_trips(tmp_path):
    config = load_config(Run, None, {"model.width": 8, "name": "x"})
    save_config(config, tmp_path / "config.yaml")
    assert load_config(Run, tmp_path / "config.yaml") == config
    assert to_dict(config)["train"]["lr"] == TrainConfig().lr


def test_an_unknown_key_names_the_one_closest_key_not_every_key(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  total_epoch_count: 3\n")
    with pytest.raises(ConfigError) as caught:
        load_config(Run, path)
    message = str(caught.value)
    assert "did you mean 'epochs'" in message
    assert "batch_size" not in message and "known keys" not in message
