"""Classifier checkpoints that other tasks can use: the "inputs -> logits" interface.

Distillation (and any tool that scores classifiers) works on checkpoints of any task
that registers an interface here, without knowing that task's code: it loads the
checkpoint, asks the task's interface to turn files into model inputs, and calls
``logits``. A task registers itself by adding its interface class to ``INTERFACES``
(a lazy "module:Class" string, so nothing is imported until a checkpoint needs it).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from dlcli.errors import CheckpointError
from dlcli.train.checkpoint import load_checkpoint

# task name (as written in checkpoints) -> "module:Class" implementing Classifier
INTERFACES: dict[str, str] = {"kws": "dlcli.kws.interface:KwsClassifier"}


class Classifier(Protocol):
    """What a task exposes about one of its classifier checkpoints."""

    task: str
    labels: list[str]  # class names, in logit order
    model: nn.Module  # trainable; ``logits`` runs it
    checkpoint: dict  # the loaded checkpoint (model_config, features, ...)
    device: torch.device

    def list_inputs(self, paths: Sequence[str | Path]) -> list[Path]:
        """The input files under ``paths`` (files and folders, recursively) this task can read."""

    def load_inputs(self, paths: Sequence[Path]) -> tuple[Tensor, list[int], list[tuple[Path, str]]]:
        """A batch of model inputs (on CPU) from files: (inputs, indices of the paths loaded, failures).

        The inputs are fully preprocessed and of a fixed shape per example: ``model(inputs)``
        gives the logits, so other tools can train ``model`` on them (distillation) and cache
        them on disk.
        """

    def labelled_inputs(self, folder: str | Path, split: str | None = None) -> tuple[list[Path], list[int]]:
        """Files of a labelled folder in the task's layout and their label indices in ``labels``."""

    def logits(self, inputs: Tensor) -> Tensor:
        """Raw class scores (batch, classes): ``model(inputs)`` on ``device``, in eval mode, without grad."""

    def save(
        self, path: str | Path, *, metrics: dict[str, Any] | None = None, extra: dict[str, Any] | None = None
    ) -> Path:
        """Write the current weights as a checkpoint of the same task (usable by its own commands)."""


def load_classifier(path: str | Path, device: str | torch.device = "cpu") -> Classifier:
    """Open any registered task's classifier checkpoint through its interface."""
    checkpoint = load_checkpoint(path)
    task = checkpoint.get("task")
    target = INTERFACES.get(task)
    if target is None:
        known = ", ".join(sorted(INTERFACES)) or "none yet"
        raise CheckpointError(
            f"a '{task}' checkpoint is not a classifier other tools can use (classifier tasks: {known})", path=path
        )
    module_name, _, class_name = target.partition(":")
    interface = getattr(importlib.import_module(module_name), class_name)
    return interface(path=Path(path), checkpoint=checkpoint, device=torch.device(device))
