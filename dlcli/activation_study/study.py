"""The activation study of the dissertation's chapter 3, on real images available offline.

Every (architecture, activation, seed) is one run of the shared training engine: Adam,
lr 1e-4 with a 5-epoch linear warm-up from 1e-5 and a cosine down to 1e-6, no batch norm,
no dropout; the run's score is its best test accuracy over the epochs (the paper's
protocol). Finished runs are kept in ``runs/`` and skipped when the study is run again,
so a long study can be stopped and continued.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlcli.activation_study.data import load_split
from dlcli.activation_study.models import ARCHITECTURES, StudyModelConfig, StudyNet
from dlcli.config import save_config, to_dict
from dlcli.console import progress
from dlcli.errors import ConfigError
from dlcli.files import locks_run_folder, write_text_atomic
from dlcli.nn.names import ACTIVATIONS, canonical_name
from dlcli.train import TrainConfig, Trainer, seed_everything
from dlcli.train.data import TensorBatchDataset
from dlcli.train.plots import read_metrics

log = logging.getLogger("dlcli.activations")

TASK = "activation-study"


@dataclass
class StudyConfig:
    dataset: str = "digits"  # digits | spoken-digits
    data_dir: str | None = None  # folder of recordings for spoken-digits
    architectures: list[str] = field(default_factory=lambda: list(ARCHITECTURES))  # fc, conv2, conv6
    activations: list[str] = field(default_factory=lambda: list(ACTIVATIONS))  # registry names
    seeds: int = 30  # independent initialisations per (architecture, activation)
    epochs: int = 100  # the paper trains 100 epochs
    batch_size: int = 64
    width: float = 0.5  # layer-width multiplier: 0.5 suits 8x8 digits (the paper's 1.0 is for 32x32)
    lr: float = 1e-4  # peak learning rate
    warmup_epochs: float = 5.0  # linear warm-up from warmup_start_lr
    warmup_start_lr: float = 1e-5
    min_lr: float = 1e-6  # end of the cosine
    bench_elements: int = 2**24  # tensor size of the speed/memory benchmark (0: skip it)
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps (the root --device)
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (the root --precision)

    def __post_init__(self) -> None:
        self.activations = [canonical_name(name) for name in self.activations]
        unknown = [a for a in self.architectures if a not in ARCHITECTURES]
        if unknown:
            raise ConfigError(f"unknown architecture(s) {', '.join(unknown)} (use {', '.join(ARCHITECTURES)})")
        if self.seeds < 1 or self.epochs < 1:
            raise ConfigError("seeds and epochs must be at least 1")


QUICK = dict(seeds=3, epochs=20, bench_elements=2**22)


def classification_step(model: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
    images, labels = batch
    logits = model(images)
    return F.cross_entropy(logits, labels), {"accuracy": (logits.argmax(dim=1) == labels).float().mean()}


def _run_dir(out: Path, architecture: str, activation: str, seed: int) -> Path:
    return out / "runs" / architecture / activation / f"seed-{seed}"


def _finished(run_dir: Path, epochs: int) -> list[float] | None:
    """The per-epoch test accuracies of a finished run, or None."""
    records = [r for r in read_metrics(run_dir / "metrics.jsonl") if r.get("event") == "epoch"]
    if len(records) == epochs and all("val_accuracy" in r for r in records):
        return [r["val_accuracy"] for r in records]
    return None


def run_one(split, config: StudyConfig, architecture: str, activation: str, seed: int, run_dir: Path) -> list[float]:
    """Train one network; return its test accuracy after each epoch."""
    seed_everything(seed)
    channels, height, width = split.shape
    model_config = StudyModelConfig(
        architecture=architecture,
        activation=activation,
        width=config.width,
        in_channels=channels,
        height=height,
        width_pixels=width,
        classes=len(split.classes),
    )
    model = StudyNet(model_config)
    train_config = TrainConfig(
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        schedule="cosine",
        warmup_epochs=config.warmup_epochs,
        warmup_start_lr=config.warmup_start_lr,
        min_lr=config.min_lr,
        monitor="val_accuracy",
        monitor_mode="max",
        seed=seed,
        device=config.device,
        precision=config.precision,
        log_every=10**9,
    )
    trainer = Trainer(
        task=TASK,
        model=model,
        step_fn=classification_step,
        config=train_config,
        run_dir=run_dir,
        collate_fn=TensorBatchDataset.collate,
        model_config=to_dict(model_config),
        labels=split.classes,
        quiet=True,
        save_checkpoints=False,
        plot_curves=False,
    )
    result = trainer.fit(
        TensorBatchDataset(split.train_images, split.train_labels),
        TensorBatchDataset(split.test_images, split.test_labels),
        overwrite=True,
    )
    return [record["val_accuracy"] for record in result.history]


@locks_run_folder("out", "the study")
def run_study(config: StudyConfig, out: str | Path) -> dict:
    """Train every combination (skipping finished runs), then write the tables, plots and benchmark."""
    from dlcli.activation_study.report import write_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(config, out / "config.yaml")
    split = load_split(config.dataset, config.data_dir)
    runs = [
        (architecture, activation, seed)
        for architecture in config.architectures
        for seed in range(config.seeds)
        for activation in config.activations
    ]
    curves: dict[str, dict[str, list[list[float]]]] = {}
    log.info(
        f"activation study on {split.name} ({len(split.train_labels)} train / {len(split.test_labels)} test images "
        f"{'x'.join(map(str, split.shape))}): {len(runs)} runs of {config.epochs} epochs"
    )
    with progress() as bar:
        task = bar.add_task("study", total=len(runs), info="")
        for architecture, activation, seed in runs:
            run_dir = _run_dir(out, architecture, activation, seed)
            bar.update(task, info=f"{architecture} {activation} seed {seed}")
            history = _finished(run_dir, config.epochs)
            if history is None:
                history = run_one(split, config, architecture, activation, seed, run_dir)
            curves.setdefault(architecture, {}).setdefault(activation, []).append(history)
            bar.update(task, advance=1)
    results = {"config": to_dict(config), "dataset": split.name, "curves": curves}
    write_text_atomic(out / "results.json", json.dumps(results))
    bench = None
    if config.bench_elements:
        from dlcli.activation_study.bench import benchmark_activations

        bench = benchmark_activations(elements=config.bench_elements, device=config.device)
        results["bench"] = bench
        write_text_atomic(out / "results.json", json.dumps(results))
    write_report(results, out)
    return results


__all__ = ["QUICK", "StudyConfig", "run_study", "run_one", "classification_step", "torch"]
