"""One pass over a file set: decoded student inputs and every model's logits, memory-mapped on disk.

A distillation costs one pass of each teacher plus the student's epochs: teacher outputs
never change, so they are computed once per transfer set and read back from ``.npy``
memory maps every epoch (the student's inputs too, so audio is decoded once). Models whose
inputs are prepared the same way (same task and feature parameters) share one decode.
Sets of any size stream through in batches; only a batch is ever in memory. A cache is
keyed by the files (names, sizes, times) and the checkpoints, so a second run on the same
set reuses it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dlcli.console import progress
from dlcli.errors import InputError
from dlcli.files import write_text_atomic
from dlcli.train.classifiers import Classifier

log = logging.getLogger("dlcli.distill")


@dataclass
class CachedSet:
    """A file set's cached tensors; rows of every array follow ``paths``."""

    paths: list[Path]
    valid: np.ndarray  # (N,) bool: loaded by every model
    inputs: np.ndarray  # (N, *input_shape) float32 memmap: the student's inputs
    logits: list[np.ndarray]  # per model (N, classes) float32 memmaps, columns in the student's label order
    labels: np.ndarray | None  # (N,) int64 label indices (labelled sets only)
    skipped: list[tuple[str, str]]  # (path, reason) of files some model could not load

    @property
    def indices(self) -> np.ndarray:
        return np.flatnonzero(self.valid)


def label_permutation(model: Classifier, student: Classifier, name: str) -> np.ndarray | None:
    """Column order that puts ``model``'s classes in the student's order (None: already the same)."""
    if list(model.labels) == list(student.labels):
        return None
    if sorted(model.labels) != sorted(student.labels):
        raise InputError(
            f"classes differ from the student's ({len(model.labels)} vs {len(student.labels)} classes, "
            f"e.g. {sorted(set(model.labels) ^ set(student.labels))[:3]})",
            path=name,
        )
    position = {label: i for i, label in enumerate(model.labels)}
    return np.array([position[label] for label in student.labels])


def _signature(model: Classifier) -> str:
    return json.dumps([model.task, model.checkpoint.get("features", {})], sort_keys=True, default=str)


def _key(paths: list[Path], checkpoints: list[Path], labels: list[int] | None) -> str:
    digest = hashlib.sha256()
    for path in [*paths, *checkpoints]:
        stat = path.stat()
        digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    digest.update(json.dumps(labels).encode())
    return digest.hexdigest()[:20]


def cache_set(
    models: list[Classifier],
    checkpoints: list[Path],
    student_index: int,
    paths: list[Path],
    folder: Path,
    *,
    labels: list[int] | None = None,
    batch_size: int = 64,
    description: str = "caching",
) -> CachedSet:
    """Run every model once over ``paths`` (or reuse a finished cache) and return the memory maps."""
    if not paths:
        raise InputError("no input files found", path=folder)
    key = _key(paths, checkpoints, labels)
    where = folder / key
    manifest_path = where / "manifest.json"
    student = models[student_index]
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        log.info(f"{description}: reusing {where}")
        return _open(where, manifest, len(models), labels)

    where.mkdir(parents=True, exist_ok=True)
    permutations = [label_permutation(m, student, str(c)) for m, c in zip(models, checkpoints)]
    groups: dict[str, list[int]] = {}
    for index, model in enumerate(models):
        groups.setdefault(_signature(model), []).append(index)
    # the student's group goes first: its inputs are the ones kept
    order = sorted(groups.values(), key=lambda members: student_index not in members)
    total = len(paths)
    valid = np.ones(total, dtype=bool)
    skipped: dict[int, str] = {}
    classes = len(student.labels)
    logits = [
        np.lib.format.open_memmap(where / f"logits-{i}.npy", mode="w+", dtype=np.float32, shape=(total, classes))
        for i in range(len(models))
    ]
    inputs = None
    with progress() as bar, torch.inference_mode():
        for members in order:
            reader = models[members[0]]
            task = bar.add_task(
                f"{description} ({', '.join(str(checkpoints[m].name) for m in members)})", total=total, info=""
            )
            for start in range(0, total, batch_size):
                chunk = paths[start : start + batch_size]
                batch, loaded, failures = reader.load_inputs(chunk)
                for path, reason in failures:
                    row = start + chunk.index(path)
                    valid[row] = False
                    skipped.setdefault(row, reason)
                rows = np.array([start + i for i in loaded], dtype=np.int64)
                if len(rows):
                    if student_index in members:
                        if inputs is None:
                            inputs = np.lib.format.open_memmap(
                                where / "inputs.npy", mode="w+", dtype=np.float32, shape=(total, *batch.shape[1:])
                            )
                        inputs[rows] = batch.float().numpy()
                    for member in members:
                        scores = models[member].logits(batch).float().cpu().numpy()
                        if permutations[member] is not None:
                            scores = scores[:, permutations[member]]
                        logits[member][rows] = scores
                bar.update(task, advance=len(chunk))
    if inputs is None:
        raise InputError("none of the files could be loaded", path=paths[0].parent)
    for array in (*logits, inputs):
        array.flush()
    np.save(where / "valid.npy", valid)
    manifest = {
        "paths": [str(p) for p in paths],
        "skipped": [[str(paths[row]), reason] for row, reason in sorted(skipped.items())],
        "models": [str(c) for c in checkpoints],
    }
    write_text_atomic(manifest_path, json.dumps(manifest))  # written last: marks the cache complete
    if skipped:
        log.warning(
            f"{description}: {len(skipped)} of {total} files skipped (unreadable by a model); see {manifest_path}"
        )
    return _open(where, manifest, len(models), labels)


def _open(where: Path, manifest: dict, models: int, labels: list[int] | None) -> CachedSet:
    return CachedSet(
        paths=[Path(p) for p in manifest["paths"]],
        valid=np.load(where / "valid.npy"),
        inputs=np.load(where / "inputs.npy", mmap_mode="r"),
        logits=[np.load(where / f"logits-{i}.npy", mmap_mode="r") for i in range(models)],
        labels=None if labels is None else np.asarray(labels, dtype=np.int64),
        skipped=[tuple(item) for item in manifest["skipped"]],
    )
