"""Evaluating a keyword spotter on a Speech Commands folder.

Accuracy, per-class precision/recall/F1/support (the dissertation's Tables 6.3 and 6.4,
sorted by F1), a confusion-matrix PNG, and false accepts per hour of keyword-free audio
(by default the folder's ``_background_noise_``; any folder of long recordings can be
given) through the same streaming detector as ``infer --stream``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from dlcli.audio import list_audio_files
from dlcli.errors import InputError
from dlcli.files import atomic_path, write_text_atomic
from dlcli.kws.data import SPLITS, build_split, get_task, load_background, scan_corpus
from dlcli.kws.infer import StreamConfig, false_accepts
from dlcli.kws.predictor import Predictor

log = logging.getLogger("dlcli.kws")


def classification_report(targets: np.ndarray, predictions: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, per-class precision/recall/F1/support, macro averages and the confusion matrix."""
    classes = len(labels)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (targets, predictions), 1)
    true_positive = np.diag(confusion).astype(float)
    predicted, support = confusion.sum(axis=0), confusion.sum(axis=1)
    precision = np.divide(true_positive, predicted, out=np.zeros(classes), where=predicted > 0)
    recall = np.divide(true_positive, support, out=np.zeros(classes), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(classes), where=(precision + recall) > 0)
    per_class = [
        {"label": labels[i], "precision": precision[i], "recall": recall[i], "f1": f1[i], "support": int(support[i])}
        for i in range(classes)
    ]
    present = support > 0
    return {
        "accuracy": float(true_positive.sum() / max(1, len(targets))),
        "clips": int(len(targets)),
        "macro_precision": float(precision[present].mean()) if present.any() else 0.0,
        "macro_recall": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": sorted(per_class, key=lambda row: -row["f1"]),
        "confusion": confusion.tolist(),
    }


def plot_confusion(confusion: np.ndarray, labels: list[str], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confusion = np.asarray(confusion, dtype=float)
    rows = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    size = max(5.0, 0.32 * len(labels) + 2)
    figure, axis = plt.subplots(figsize=(size + 1, size))
    image = axis.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7 if len(labels) > 15 else 9)
    axis.set_yticks(range(len(labels)), labels, fontsize=7 if len(labels) > 15 else 9)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true (rows sum to 1)")
    if len(labels) <= 15:
        for i in range(len(labels)):
            for j in range(len(labels)):
                if confusion[i, j]:
                    axis.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=7,
                              color="white" if rows[i, j] > 0.5 else "black")  # fmt: skip
    figure.colorbar(image, fraction=0.046, pad=0.04)
    axis.set_title(title)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110, format="png")
    plt.close(figure)
    return path


def predict(predictor: Predictor, clips: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Logits of int16 clips (n, samples), in batches."""
    outputs = [
        predictor.logits(clips[i : i + batch_size].astype(np.float32) / 32768.0)
        for i in range(0, len(clips), batch_size)
    ]
    return np.concatenate(outputs) if outputs else np.zeros((0, len(predictor.labels)), np.float32)


def evaluate(
    predictor: Predictor,
    data_dir: str | Path,
    *,
    split: str = "testing",
    out_dir: str | Path | None = None,
    negatives: str | Path | None = None,
    stream: StreamConfig | None = None,
    batch_size: int = 64,
    max_clips: int | None = None,
    show: bool = False,
) -> dict:
    """Score ``split`` of ``data_dir`` (``all`` for every clip) with the predictor's own task and labels."""
    if split not in (*SPLITS, "all"):
        raise InputError(f"unknown split '{split}' (use {', '.join(SPLITS)} or all)")
    extra = predictor.extra
    corpus = scan_corpus(
        data_dir,
        validation_percent=float(extra.get("validation_percent", 10.0)),
        testing_percent=float(extra.get("testing_percent", 10.0)),
    )
    task = get_task(predictor.task or "35-words")
    labels = predictor.labels
    unknown_words = [w for w in corpus.words if w not in labels]
    if not task.unknown and task.keywords is None and unknown_words:
        log.warning(f"{data_dir}: words the model does not know are left out: {', '.join(unknown_words)}")
    noise_failures: list[tuple[Path, str]] = []
    noises = load_background(corpus.background, noise_failures) if task.silence else []
    data = build_split(
        corpus, task, labels, None if split == "all" else split, noises=noises, max_clips=max_clips, show=show
    )
    for path, reason in noise_failures + data.failures:
        log.warning(f"skipped {path}: {reason}")
    if len(data.targets) == 0:
        raise InputError(f"no clips of the '{task.name}' task in the {split} split", path=data_dir)
    logits = predict(predictor, data.clips, batch_size)
    predictions = logits.argmax(axis=1)
    report = classification_report(data.targets, predictions, labels)
    report.update(
        {
            "model": str(predictor.path),
            "data": str(data_dir),
            "split": split,
            "task": task.name,
            "labels": labels,
            "split_source": corpus.split_source,
        }
    )
    negative_files = list_audio_files(negatives) if negatives else corpus.background
    if negative_files:
        report["false_accepts"] = false_accepts(predictor, negative_files, stream or StreamConfig(), batch_size)
        report["false_accepts"]["source"] = str(negatives or (Path(data_dir) / "_background_noise_"))
    # every file left out, clips and noise alike: the command exits 5 when this is not empty
    skipped = {str(p): reason for p, reason in noise_failures + data.failures}
    for path in report.get("false_accepts", {}).get("skipped", []):
        skipped.setdefault(path, "unreadable")
    report["skipped"] = sorted(skipped)
    report["skipped_reasons"] = dict(sorted(skipped.items()))
    if out_dir is not None:
        out_dir = Path(out_dir)
        stem = f"evaluation-{split}"
        plot_confusion(np.array(report["confusion"]), labels, out_dir / f"{stem}-confusion.png",
                       f"{task.name}, {split}: accuracy {100 * report['accuracy']:.2f}%")  # fmt: skip
        write_text_atomic(out_dir / f"{stem}.json", json.dumps(report, indent=2) + "\n")
        write_text_atomic(out_dir / f"{stem}.md", markdown(report))
        report["written"] = [str(out_dir / f"{stem}{suffix}") for suffix in ("-confusion.png", ".json", ".md")]
    return report


def markdown(report: dict) -> str:
    """The per-class table in the layout of the dissertation's Tables 6.3/6.4, sorted by F1."""
    lines = [
        f"# {report['task']} on {report['data']} ({report['split']} split, {report['clips']} clips)",
        "",
        f"accuracy {100 * report['accuracy']:.2f}%, macro F1 {100 * report['macro_f1']:.2f}%",
        "",
        "| class | precision | recall | f1-score | support |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in report["per_class"]:
        lines.append(
            f"| {row['label']} | {100 * row['precision']:.2f} | {100 * row['recall']:.2f} | "
            f"{100 * row['f1']:.2f} | {row['support']} |"
        )
    fa = report.get("false_accepts")
    if fa:
        lines += ["", f"false accepts: {fa['false_accepts']} in {fa['hours'] * 60:.1f} min of {fa['source']} "
                  f"= {fa['false_accepts_per_hour']} per hour (threshold {fa['threshold']})"]  # fmt: skip
    return "\n".join(lines) + "\n"
