"""Configuration of a keyword-spotting run: data, augmentation, model, training.

The defaults are the reference set-up (dissertation ch. 6): Xception-1d, Adam at 1e-4
with weight decay 1e-3, batch 32, 50 epochs, the learning rate halved after 4 epochs
without a better validation accuracy, and the best epoch kept. The small model starts
from the same recipe with a higher learning rate, which its size tolerates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dlcli.kws.augment import AugmentConfig
from dlcli.kws.data import TASKS
from dlcli.kws.model import PRESETS, XceptionConfig
from dlcli.kws.perturb import PerturbConfig
from dlcli.train.config import TrainConfig


@dataclass
class DataConfig:
    task: str = "35-words"  # 35-words | 20-commands | 10-commands | left-right | 12-class | digits
    background: str | None = None  # folder of noise recordings (default: DATA/_background_noise_)
    max_train_clips: int | None = None  # train on a seeded random subset (bounded runs)
    max_validation_clips: int | None = None  # validate on a subset
    seed: int | None = None  # seed of the training subset and the offline copies (default: the run's seed)
    validation_percent: float = 10.0  # hash-rule split when the folder has no list files
    testing_percent: float = 10.0
    clip_cache: bool = True  # keep the decoded clips in $DLCLI_CACHE/kws-clips for the next run (dlcli.kws.clipcache)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, not {self.task!r}")


def reference_training(**overrides) -> TrainConfig:
    values = dict(
        epochs=50,
        batch_size=32,
        optimizer="adam",
        lr=1e-4,
        weight_decay=1e-3,
        schedule="plateau",
        plateau_factor=0.5,
        plateau_patience=4,
        monitor="val_accuracy",
        monitor_mode="max",
        log_every=20,
        prefetch=2,  # online augmentation of the next batches runs in a thread during the step (on a CPU)
    )
    values.update(overrides)
    return TrainConfig(**values)


@dataclass
class KwsConfig:
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    perturb: PerturbConfig = field(default_factory=PerturbConfig)  # which distortions, mixup
    model: XceptionConfig = field(default_factory=XceptionConfig)
    train: TrainConfig = field(default_factory=reference_training)


def embedding_config() -> KwsConfig:
    """A small head on the frozen speech-embedding front end (openWakeWord's design).

    Its features are computed once, so augmentation could only be offline copies; none by default:
    on real spoken digits two distorted, noise-mixed copies of every synthetic clip cost 3.6 points
    (docs/BENCHMARKS.md), and the corpus generators already mix noise into their clips. The head
    trains in seconds an epoch, hence more epochs and a higher rate.
    """
    return KwsConfig(
        augment=AugmentConfig(mode="none", copies=2),  # --augment offline: 2 copies
        model=XceptionConfig(frontend="embedding", middle_blocks=0, pooling="mean", dropout=0.3),
        train=reference_training(epochs=40, batch_size=64, lr=1e-3, weight_decay=1e-4, plateau_patience=3),
    )


def default_config(model: str = "xception1d") -> KwsConfig:
    """The starting point for ``--model``: the reference recipe, or its small-model variant."""
    if model not in PRESETS:
        raise ValueError(f"model must be one of {', '.join(PRESETS)}, not {model!r}")
    if model == "small":
        return KwsConfig(model=PRESETS[model](), train=reference_training(lr=3e-3, weight_decay=1e-4))
    return KwsConfig(model=PRESETS[model]())
