"""Distil several calibrated teachers into a pre-trained student, on unlabeled data only.

Per blend method and seed, a fresh copy of the student is fine-tuned (all layers) with the
shared engine on the cross-entropy between its softened output softmax(z / T_student) and
the blended teacher target (alpha = 1: no hard labels), with early stopping on the
labelled dev set. Teacher outputs and the student's inputs come from the on-disk cache
(one pass each); ``cache_teachers=False`` is the naive way, running every teacher on every
batch of every epoch, kept to measure what the cache saves.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from dlcli.config import save_config, to_dict
from dlcli.distill.blend import BLENDS, blend
from dlcli.distill.cache import CachedSet, cache_set
from dlcli.distill.calibrate import find_temperature
from dlcli.errors import ConfigError, UsageError
from dlcli.files import locks_run_folder, write_text_atomic
from dlcli.train import TrainConfig, Trainer, seed_everything
from dlcli.train.classifiers import Classifier, load_classifier

log = logging.getLogger("dlcli.distill")

TASK = "distill"


@dataclass
class DistillConfig:
    teachers: list[str] = field(default_factory=list)  # teacher checkpoints (any registered classifier task)
    student: str = ""  # the pre-trained student checkpoint
    unlabeled: list[str] = field(default_factory=list)  # transfer set: files or folders, labels unused
    dev: str = ""  # labelled folder for early stopping
    dev_split: str | None = "validation"  # split of the dev folder (None: every file)
    test: str | None = None  # labelled folder for the final report (optional)
    test_split: str | None = "testing"
    blends: list[str] = field(default_factory=lambda: ["mean", "min-entropy"])  # methods to run (or "all")
    target_confidence: float = 0.35  # S: mean top-class probability every model is calibrated to
    seeds: int = 1  # repetitions per blend method
    seed: int = 0  # the first repetition's seed; repetition i uses seed + i (the root --seed sets it)
    epochs: int = 100
    lr: float = 1e-6  # the paper's: larger rates made students forget
    batch_size: int = 64
    early_stopping: int = 10  # epochs without dev improvement
    cache_teachers: bool = True  # False: run the teachers on every batch (the naive way)
    keep_students: bool = True  # write each run's best student checkpoint
    device: str = "auto"
    precision: str = "auto"  # auto | fp32 | bf16 | fp16

    def __post_init__(self) -> None:
        if self.blends == ["all"]:
            self.blends = list(BLENDS)
        unknown = [b for b in self.blends if b not in BLENDS]
        if unknown:
            raise ConfigError(f"unknown blend method(s) {', '.join(unknown)} (use {', '.join(BLENDS)} or all)")
        if not 0 < self.target_confidence < 1:
            raise ConfigError("target_confidence must lie between 0 and 1")


class TransferData(Dataset):
    """Examples of the transfer set by row: (student inputs, teachers' logits, row) fetched a batch at a time."""

    def __init__(self, cached: CachedSet, teachers: Sequence[int]):
        self.cached = cached
        self.rows = cached.indices
        self.teachers = list(teachers)  # empty: the teachers run on the fly (naive mode)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitems__(self, positions: Sequence[int]) -> tuple[Tensor, Tensor, Tensor]:
        rows = np.sort(self.rows[np.asarray(positions)])  # sorted reads are kinder to memory maps
        inputs = torch.from_numpy(np.ascontiguousarray(self.cached.inputs[rows]))
        if self.teachers:
            logits = torch.from_numpy(np.stack([self.cached.logits[t][rows] for t in self.teachers]))
        else:
            logits = torch.empty(0)
        return inputs, logits, torch.from_numpy(rows)

    @staticmethod
    def collate(batch):
        return batch


class LabelledData(Dataset):
    def __init__(self, cached: CachedSet):
        self.cached = cached
        self.rows = cached.indices

    def __len__(self) -> int:
        return len(self.rows)

    def __getitems__(self, positions: Sequence[int]) -> tuple[Tensor, Tensor]:
        rows = np.sort(self.rows[np.asarray(positions)])
        inputs = torch.from_numpy(np.ascontiguousarray(self.cached.inputs[rows]))
        return inputs, torch.from_numpy(self.cached.labels[rows])


def topk_accuracy(logits: np.ndarray | Tensor, labels: np.ndarray | Tensor, k: int) -> float:
    logits, labels = torch.as_tensor(np.asarray(logits)), torch.as_tensor(np.asarray(labels))
    k = min(k, logits.shape[1])
    return (logits.topk(k, dim=1).indices == labels[:, None]).any(1).float().mean().item()


def cached_accuracies(cached: CachedSet, model_index: int) -> dict[str, float]:
    rows = cached.indices
    logits, labels = cached.logits[model_index][rows], cached.labels[rows]
    return {"top1": topk_accuracy(logits, labels, 1), "top5": topk_accuracy(logits, labels, 5)}


def dev_step(model, batch) -> tuple[Tensor, dict[str, Tensor]]:
    """Cross-entropy and top-1/top-5 accuracy of one labelled batch (the engine averages them)."""
    inputs, labels = batch
    logits = model(inputs).float()
    top = logits.topk(min(5, logits.shape[1]), dim=1).indices
    accuracies = {"top1": (top[:, 0] == labels).float().mean(), "top5": (top == labels[:, None]).any(1).float().mean()}
    return F.cross_entropy(logits, labels), accuracies


def _labelled(classifier: Classifier, folder: str, split: str | None) -> tuple[list[Path], list[int]]:
    paths, labels = classifier.labelled_inputs(folder, split)
    if not paths:
        raise UsageError(f"no labelled files in {folder}" + (f" (split '{split}')" if split else ""))
    return list(paths), list(labels)


@dataclass
class _Prepared:
    """What every (blend, seed) run shares: the models' files, the caches, the temperatures."""

    checkpoints: list[Path]  # teachers, then the student
    student_index: int
    transfer: CachedSet
    dev: CachedSet
    test: CachedSet | None
    temperatures: list[float]
    best_teacher: int
    device: torch.device


@locks_run_folder("out", "the distillation")
def distill(config: DistillConfig, out: str | Path, *, resume: bool = True) -> dict:
    """Calibrate, cache, train every (blend, seed) and write the report; return the report dict."""
    from dlcli.distill.report import write_report
    from dlcli.train.device import choose_device

    if len(config.teachers) < 1 or not config.student:
        raise UsageError("distillation needs at least one --teacher and a --student")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(config, out / "config.yaml")
    device = choose_device(config.device)
    checkpoints = [Path(p) for p in [*config.teachers, config.student]]
    models = [load_classifier(path, device) for path in checkpoints]
    student_index = len(models) - 1
    student = models[student_index]
    teachers = list(range(student_index))

    transfer_paths = student.list_inputs(config.unlabeled)
    started = time.perf_counter()
    transfer = cache_set(models, checkpoints, student_index, transfer_paths, out / "cache", description="transfer set")
    cache_seconds = time.perf_counter() - started
    dev_paths, dev_labels = _labelled(student, config.dev, config.dev_split)
    dev = cache_set(
        models, checkpoints, student_index, dev_paths, out / "cache", labels=dev_labels, description="dev set"
    )
    test = None
    if config.test:
        test_paths, test_labels = _labelled(student, config.test, config.test_split)
        test = cache_set(
            models, checkpoints, student_index, test_paths, out / "cache", labels=test_labels, description="test set"
        )

    rows = transfer.indices
    calibrations = [find_temperature(transfer.logits[i][rows], config.target_confidence) for i in range(len(models))]
    temperatures = [c.temperature for c in calibrations]
    for path, calibration in zip(checkpoints, calibrations):
        log.info(
            f"temperature of {path.name}: {calibration.temperature:.3f} (mean top probability {calibration.confidence:.3f})"
        )
    dev_accuracy = [cached_accuracies(dev, i) for i in range(len(models))]
    best_teacher = max(teachers, key=lambda i: dev_accuracy[i]["top1"])

    report: dict = {
        "config": to_dict(config),
        "transfer_examples": int(len(rows)),
        "transfer_skipped": len(transfer.skipped),
        "cache_seconds": cache_seconds,
        "models": [
            {
                "checkpoint": str(path),
                "role": "student" if i == student_index else "teacher",
                "temperature": temperatures[i],
                "calibration": calibrations[i].as_dict(),
                "dev": dev_accuracy[i],
                "test": cached_accuracies(test, i) if test else None,
            }
            for i, path in enumerate(checkpoints)
        ],
        "best_teacher": str(checkpoints[best_teacher]),
        "runs": [],
    }
    write_text_atomic(out / "calibration.json", json.dumps(report["models"], indent=2))
    prepared = _Prepared(checkpoints, student_index, transfer, dev, test, temperatures, best_teacher, device)

    for method in config.blends:
        for seed in range(config.seed, config.seed + config.seeds):
            run_dir = out / "runs" / method / f"seed-{seed}"
            result_path = run_dir / "result.json"
            if resume and result_path.exists():
                report["runs"].append(json.loads(result_path.read_text()))
                continue
            result = _train_one(config, method, seed, run_dir, prepared)
            write_text_atomic(result_path, json.dumps(result))
            report["runs"].append(result)
            write_report(report, out)
    write_report(report, out)
    return report


def _train_one(config: DistillConfig, method: str, seed: int, run_dir: Path, prepared: _Prepared) -> dict:
    checkpoints, student_index, temperatures = prepared.checkpoints, prepared.student_index, prepared.temperatures
    transfer, dev, test, device = prepared.transfer, prepared.dev, prepared.test, prepared.device
    best_teacher = prepared.best_teacher
    seed_everything(seed)
    student = load_classifier(checkpoints[student_index], device)  # a fresh copy of the pre-trained weights
    teachers = list(range(student_index))
    teacher_temperatures = torch.tensor([temperatures[t] for t in teachers], device=device).view(-1, 1, 1)
    student_temperature = temperatures[student_index]
    naive_teachers = None
    if not config.cache_teachers:
        naive_teachers = [load_classifier(checkpoints[t], device) for t in teachers]
        for teacher, path in zip(naive_teachers, checkpoints):
            if list(teacher.labels) != list(student.labels) or teacher.task != student.task:
                raise UsageError(f"{path}: running teachers on the fly needs the student's task and class order")
            teacher.model.eval()

    def step(model, batch, context):
        inputs, teacher_logits, rows = batch
        if naive_teachers is not None:  # recompute what the cache holds, every batch of every epoch
            with torch.no_grad():
                teacher_logits = torch.stack([t.model(inputs) for t in naive_teachers]).float()
        probabilities = torch.softmax(teacher_logits.float() / teacher_temperatures, dim=-1)
        target = blend(
            method,
            probabilities,
            indices=rows,
            seed=seed,
            epoch=context.epoch,  # the random blend redraws its teachers every epoch
            best_teacher=teachers.index(best_teacher),
        )
        log_probabilities = F.log_softmax(model(inputs).float() / student_temperature, dim=-1)
        loss = -(target * log_probabilities).sum(-1).mean()
        return loss, {}

    train_config = TrainConfig(
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        monitor="val_top1",
        monitor_mode="max",
        early_stopping=config.early_stopping,
        seed=seed,
        device=str(device),
        precision=config.precision,
        log_every=50,
    )
    trainer = Trainer(
        task=TASK,
        model=student.model,
        step_fn=step,
        config=train_config,
        run_dir=run_dir,
        eval_step_fn=dev_step,
        collate_fn=TransferData.collate,
        run_config=config,
        labels=list(student.labels),
        extra={"blend": method, "seed": seed},
        save_checkpoints=False,  # the best weights come back in memory; student.pt is the one file written
    )
    started = time.perf_counter()
    data = TransferData(transfer, teachers if naive_teachers is None else [])
    fit = trainer.fit(data, LabelledData(dev), overwrite=True)
    seconds = time.perf_counter() - started
    if fit.best_state is not None:
        student.model.load_state_dict(fit.best_state)
    student.model.eval()
    curve = [record.get("val_top1") for record in fit.history]
    result = {
        "blend": method,
        "seed": seed,
        "epochs": fit.epochs,
        "best_epoch": int(np.argmax(curve)) + 1 if curve else None,
        "seconds": seconds,
        "dev": _evaluate_classifier(student, dev),
        "test": _evaluate_classifier(student, test) if test else None,
        "curve": curve,
    }
    if config.keep_students:
        student.save(run_dir / "student.pt", metrics={"dev_top1": result["dev"]["top1"]}, extra={"distilled": method})
    return result


def _evaluate_classifier(classifier: Classifier, cached: CachedSet, batch_size: int = 256) -> dict[str, float]:
    rows = cached.indices
    scores = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        scores.append(classifier.logits(torch.from_numpy(np.ascontiguousarray(cached.inputs[chunk]))).float().cpu())
    logits = torch.cat(scores)
    labels = cached.labels[rows]
    return {"top1": topk_accuracy(logits, labels, 1), "top5": topk_accuracy(logits, labels, 5)}


__all__ = ["DistillConfig", "distill"]
