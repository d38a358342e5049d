"""kws checkpoints through the shared ``Classifier`` interface (used by distillation).

Inputs are one-second 16 kHz waveforms, (batch, 16000) float32; the model normalises
their peak itself. ``save`` writes an ordinary kws checkpoint, so a distilled student is
evaluated, scored and exported by the kws commands like any trained model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dlcli.audio import list_audio_files
from dlcli.errors import AudioError, InputError
from dlcli.kws.data import BACKGROUND_FOLDER, SPLITS, get_task, load_clip, scan_corpus, task_examples
from dlcli.kws.model import XceptionConfig, build_model
from dlcli.train.checkpoint import build_checkpoint, save_checkpoint
from dlcli.train.loader import load_model


class KwsClassifier:
    task = "kws"

    def __init__(self, *, path: Path, checkpoint: dict, device: torch.device):
        self.path = Path(path)
        self.checkpoint = checkpoint
        self.device = torch.device(device)
        self.labels = list(checkpoint["labels"])
        self.model = load_model(
            path, self.task, XceptionConfig, build_model, device=self.device, checkpoint=checkpoint
        ).model
        self.sample_rate = int(checkpoint.get("features", {}).get("sample_rate", 16000))
        self.clip_samples = int(checkpoint.get("features", {}).get("clip_samples", 16000))

    def list_inputs(self, paths: Sequence[str | Path]) -> list[Path]:
        """Audio files under ``paths``; long background-noise recordings are not inputs."""
        return [p for p in list_audio_files(list(paths)) if BACKGROUND_FOLDER not in p.parts]

    def load_inputs(self, paths: Sequence[Path]) -> tuple[Tensor, list[int], list[tuple[Path, str]]]:
        clips, loaded, failures = [], [], []
        for index, path in enumerate(paths):
            try:
                clips.append(load_clip(path))
            except AudioError as error:
                failures.append((Path(path), error.message))
                continue
            loaded.append(index)
        batch = np.stack(clips) if clips else np.zeros((0, self.clip_samples), np.float32)
        return torch.from_numpy(batch), loaded, failures

    def labelled_inputs(self, folder: str | Path, split: str | None = None) -> tuple[list[Path], list[int]]:
        """Clips of a Speech Commands folder labelled for this model's task (no generated silence)."""
        if split is not None and split not in SPLITS:
            raise InputError(f"unknown split '{split}' (use {', '.join(SPLITS)} or none for all)")
        extra = self.checkpoint.get("extra", {})
        corpus = scan_corpus(
            folder,
            validation_percent=float(extra.get("validation_percent", 10.0)),
            testing_percent=float(extra.get("testing_percent", 10.0)),
        )
        return task_examples(corpus, get_task(extra.get("task") or "35-words"), self.labels, split)

    def logits(self, inputs: Tensor) -> Tensor:
        self.model.eval()  # batch statistics and dropout of training must not leak into scores
        with torch.no_grad():
            return self.model(inputs.to(self.device, torch.float32))

    def save(
        self, path: str | Path, *, metrics: dict[str, Any] | None = None, extra: dict[str, Any] | None = None
    ) -> Path:
        checkpoint = build_checkpoint(
            task=self.task,
            model=self.model,
            model_config=self.checkpoint["model_config"],
            train_config=self.checkpoint.get("train_config"),
            labels=self.labels,
            features=self.checkpoint.get("features"),
            metrics=metrics,
            extra={**self.checkpoint.get("extra", {}), **(extra or {})},
        )
        return save_checkpoint(checkpoint, path)
