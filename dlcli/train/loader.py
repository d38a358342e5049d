"""One way from a checkpoint file to a model with its weights, for every task and for distill.

Modelled on whisper's ``load_model``: path -> checkpoint (``weights_only``) -> task check
-> the model's configuration dataclass (unknown or mistyped keys are errors that name the
closest field, never silently dropped) -> the model -> its weights. Every failure is a
``CheckpointError`` (exit code 4) naming the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
from torch import nn

from dlcli.config import from_dict
from dlcli.errors import CheckpointError, ConfigError
from dlcli.train.checkpoint import load_checkpoint, load_state_dict

C = TypeVar("C")


@dataclass
class LoadedModel(Generic[C]):
    model: nn.Module  # in eval mode, on the requested device
    config: C  # the model's configuration dataclass
    checkpoint: dict  # the whole checkpoint (labels, features, extra, metrics)
    path: Path


def model_config(checkpoint: dict, config_class: type[C], path: str | Path) -> C:
    """The checkpoint's ``model_config`` as ``config_class``; unknown keys name the closest field."""
    values = checkpoint.get("model_config")
    if not isinstance(values, dict):
        raise CheckpointError("holds no model configuration", path=path)
    try:
        return from_dict(config_class, values, source="model configuration")
    except ConfigError as error:
        raise CheckpointError(f"{error.message}; this dlcli cannot build that model", path=path) from None


def load_model(
    path: str | Path,
    task: str | Iterable[str],
    config_class: type[C],
    build: Callable[[C], nn.Module],
    *,
    device: str | torch.device = "cpu",
    checkpoint: dict | None = None,
    float32: bool = False,
) -> LoadedModel[C]:
    """Build ``config_class``'s model from the checkpoint at ``path`` and load its weights.

    ``checkpoint`` skips reading the file again when the caller already holds it;
    ``float32`` widens weights that were shipped in half precision.
    """
    path = Path(path)
    if checkpoint is None:
        checkpoint = load_checkpoint(path, task)
    config = model_config(checkpoint, config_class, path)
    try:
        model = build(config)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"unusable model configuration: {error}", path=path) from None
    weights: Any = checkpoint
    if float32:
        state = {k: v.float() if v.is_floating_point() else v for k, v in checkpoint["state_dict"].items()}
        weights = {"state_dict": state}
    load_state_dict(model, weights, path)
    return LoadedModel(model=model.to(device).eval(), config=config, checkpoint=checkpoint, path=path)
