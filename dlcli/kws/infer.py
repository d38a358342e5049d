"""Scoring audio: one label per file, or keyword detections with timestamps in long recordings.

File mode decodes the next batches in a background thread while the model scores the
current one, so decoding and resampling hide behind the model where a core is free. Stream mode slides a one-second window
over each recording, smooths the class probabilities over a few windows, and reports a
keyword when its smoothed score crosses the threshold, at the window where it peaks,
then stays quiet for the refractory time (one spoken word, one detection).
"""

from __future__ import annotations

import csv
import json
import logging
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlcli.audio import load_audio
from dlcli.errors import AudioError
from dlcli.files import atomic_path
from dlcli.kws.data import fit_length
from dlcli.kws.predictor import Predictor

log = logging.getLogger("dlcli.kws")


@dataclass
class StreamConfig:
    hop_seconds: float = 0.1  # between window starts
    smooth_seconds: float = 0.3  # moving average of probabilities over this span
    threshold: float = 0.8  # smoothed keyword probability that fires a detection
    refractory_seconds: float = 1.0  # no new detection this long after one

    def __post_init__(self) -> None:
        if self.hop_seconds <= 0 or self.smooth_seconds < 0 or self.refractory_seconds < 0:
            raise ValueError("hop must be positive; smoothing and refractory time not negative")
        if not 0 < self.threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")


@dataclass
class ScoreResult:
    rows: int = 0
    failures: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0  # audio scored (stream mode)
    cropped: int = 0  # files much longer than a clip, of which only the middle was scored


# ----------------------------------------------------------------------------- file mode


def _load_batch(paths: Sequence[Path], rate: int, samples: int, strict: bool):
    """Decode one batch: (clips, indices of the readable files, failures, files longer than 1.5 clips)."""
    clips, good, failures, long = [], [], [], 0
    for index, path in enumerate(paths):
        try:
            audio, _ = load_audio(path, rate)
        except AudioError as error:
            if strict:
                raise
            failures.append((path, error.message))
            continue
        clips.append(fit_length(audio, samples))
        good.append(index)
        long += len(audio) > 1.5 * samples
    batch = np.stack(clips) if clips else np.zeros((0, samples), np.float32)
    return batch, good, failures, long


def iterate_batches(
    paths: Sequence[Path], rate: int, samples: int, batch_size: int, *, strict: bool = False, ahead: int = 2
) -> Iterator[tuple[np.ndarray, list[Path], list[tuple[Path, str]], int]]:
    """(clips, their paths, failures, files longer than 1.5 clips) per batch, in the order of ``paths``.

    One background thread decodes up to ``ahead`` batches in advance while the caller scores
    the current one (libsndfile and soxr release the GIL, so the two overlap on a free core).
    One thread, not a pool: on a machine with few cores more decoders only compete with the model.
    With ``strict`` the first unreadable file's AudioError comes out of the batch that holds it.
    """
    chunks = [paths[i : i + batch_size] for i in range(0, len(paths), batch_size)]
    decoder = ThreadPoolExecutor(1, thread_name_prefix="kws-decode")
    pending: deque = deque()

    def collect():
        chunk, future = pending.popleft()
        batch, good, failures, long = future.result()
        return batch, [chunk[i] for i in good], failures, long

    try:
        for chunk in chunks:
            pending.append((chunk, decoder.submit(_load_batch, chunk, rate, samples, strict)))
            if len(pending) > ahead:
                yield collect()
        while pending:
            yield collect()
    finally:
        decoder.shutdown(wait=True, cancel_futures=True)


def _header(top_k: int) -> list[str]:
    columns = ["path", "label", "score"]
    for rank in range(2, top_k + 1):
        columns += [f"label_{rank}", f"score_{rank}"]
    return columns


def score_files(
    predictor: Predictor,
    paths: Sequence[Path],
    output: str | Path | None,
    *,
    fmt: str = "csv",
    top_k: int = 3,
    batch_size: int = 64,
    strict: bool = False,
    show: bool = False,
    echo=None,
) -> ScoreResult:
    """Label every file; rows go to ``output`` (written atomically) or to ``echo`` (stdout)."""
    from dlcli.console import progress

    top_k = max(1, min(top_k, len(predictor.labels)))
    result = ScoreResult()

    def write_rows(handle) -> None:
        writer = csv.writer(handle) if fmt == "csv" else None
        if writer:
            writer.writerow(_header(top_k))
        with progress(disable=not show, transient=True) as bar:
            task = bar.add_task("scoring", total=len(paths), info="")
            for batch, names, failures, long in iterate_batches(
                paths, predictor.sample_rate, predictor.clip_samples, batch_size, strict=strict
            ):
                for path, reason in failures:
                    log.warning(f"skipped {path}: {reason}")
                result.failures += failures
                result.cropped += long
                if len(batch):
                    probabilities = predictor.probabilities(batch)
                    order = np.argsort(-probabilities, axis=1)[:, :top_k]
                    for name, row, ranks in zip(names, probabilities, order):
                        top = [(predictor.labels[r], float(row[r])) for r in ranks]
                        if writer:
                            writer.writerow(
                                [str(name)] + [f"{v:.5f}" if isinstance(v, float) else v for p in top for v in p]
                            )
                        else:
                            record = {"path": str(name), "label": top[0][0], "score": round(top[0][1], 5)}
                            record["top"] = [{"label": label, "score": round(score, 5)} for label, score in top]
                            handle.write(json.dumps(record) + "\n")
                        result.rows += 1
                bar.advance(task, len(names) + len(failures))

    _write(output, write_rows, echo)
    if result.cropped:
        log.warning(
            f"{result.cropped} files are longer than 1.5 s and only their middle second was scored; "
            "--stream finds keywords anywhere in long recordings"
        )
    return result


def _write(output, write_rows, echo) -> None:
    if output is None:
        import io

        buffer = io.StringIO()
        write_rows(buffer)
        (echo or print)(buffer.getvalue().rstrip("\n"))
        return
    with atomic_path(output) as temporary, open(temporary, "w", encoding="utf-8", newline="") as handle:
        write_rows(handle)


# ----------------------------------------------------------------------------- stream mode


def window_probabilities(
    predictor: Predictor, audio: np.ndarray, hop: int, batch_size: int = 64, cache: bool = False
) -> np.ndarray:
    """Class probabilities of one-second windows every ``hop`` samples, (windows, classes).

    The recording is zero-padded by half a window at both ends so a word at the very
    start or end still gets a window centred on it. ``cache``: keep a front end's stream
    embeddings on disk (long recordings scored by many models).
    """
    size = predictor.clip_samples
    model = getattr(predictor, "model", None)
    if hasattr(model, "stream_logits"):  # a front end that embeds the whole recording once (kws.embedding)
        logits = model.stream_logits(audio, hop, size, cache=cache)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)
    padded = np.pad(audio, (size // 2, size // 2 + hop))
    starts = np.arange(0, max(1, len(padded) - size + 1), hop)
    probabilities = []
    for first in range(0, len(starts), batch_size):
        chunk = starts[first : first + batch_size]
        windows = np.stack([padded[s : s + size] for s in chunk])
        probabilities.append(predictor.probabilities(windows))
    return np.concatenate(probabilities) if probabilities else np.zeros((0, len(predictor.labels)))


def detect(probabilities: np.ndarray, keywords: Sequence[int], hop_seconds: float, config: StreamConfig):
    """[(window index, class, smoothed score)]: threshold crossings, peak-picked, refractory."""
    span = max(1, int(round(config.smooth_seconds / hop_seconds)))
    kernel = np.ones(span) / span
    smoothed = np.stack([np.convolve(probabilities[:, k], kernel, mode="same") for k in keywords], axis=1)
    refractory = int(round(config.refractory_seconds / hop_seconds))
    detections = []
    index, count = 0, len(smoothed)
    while index < count:
        best = int(np.argmax(smoothed[index]))
        if smoothed[index, best] >= config.threshold:
            # the peak of this keyword within the following refractory span
            end = min(count, index + max(1, refractory))
            peak = index + int(np.argmax(smoothed[index:end, best]))
            detections.append((peak, keywords[best], float(smoothed[peak, best])))
            index = peak + max(1, refractory)
        else:
            index += 1
    return detections


def stream_file(predictor: Predictor, path: Path, config: StreamConfig, batch_size: int = 64, cache: bool = False):
    """Detections in one recording: [(start_s, end_s, label, score)] and its duration in seconds."""
    audio, rate = load_audio(path, predictor.sample_rate)
    hop = max(1, int(round(config.hop_seconds * rate)))
    probabilities = window_probabilities(predictor, audio, hop, batch_size, cache=cache)
    found = detect(probabilities, predictor.keyword_indices, hop / rate, config)
    window = predictor.clip_samples / rate
    rows = []
    duration = len(audio) / rate
    for index, label, score in found:
        centre = index * hop / rate  # window i is centred on this time (the audio is padded by half a window)
        start, end = max(0.0, centre - window / 2), min(duration, centre + window / 2)
        rows.append((round(start, 3), round(end, 3), predictor.labels[label], score))
    return rows, duration


def stream_files(
    predictor: Predictor,
    paths: Sequence[Path],
    output: str | Path | None,
    config: StreamConfig,
    *,
    fmt: str = "csv",
    batch_size: int = 64,
    strict: bool = False,
    show: bool = False,
    echo=None,
) -> ScoreResult:
    """Detections with timestamps for every recording: rows (path, start_s, end_s, label, score)."""
    from dlcli.console import progress

    result = ScoreResult()

    def write_rows(handle) -> None:
        writer = csv.writer(handle) if fmt == "csv" else None
        if writer:
            writer.writerow(["path", "start_s", "end_s", "label", "score"])
        with progress(disable=not show, transient=True) as bar:
            task = bar.add_task("listening", total=len(paths), info="")
            for path in paths:
                try:
                    rows, seconds = stream_file(predictor, path, config, batch_size)
                except AudioError as error:
                    if strict:
                        raise
                    log.warning(f"skipped {path}: {error.message}")
                    result.failures.append((path, error.message))
                    bar.advance(task)
                    continue
                result.seconds += seconds
                for start, end, label, score in rows:
                    if writer:
                        writer.writerow([str(path), f"{start:.3f}", f"{end:.3f}", label, f"{score:.5f}"])
                    else:
                        record = {"path": str(path), "start_s": start, "end_s": end, "label": label}
                        handle.write(json.dumps({**record, "score": round(score, 5)}) + "\n")
                    result.rows += 1
                bar.advance(task)

    _write(output, write_rows, echo)
    return result


def false_accepts(
    predictor: Predictor, paths: Sequence[Path], config: StreamConfig, batch_size: int = 64, cache: bool = False
) -> dict:
    """Detections on keyword-free recordings, per hour of audio (the wake-word figure of merit)."""
    detections, seconds, per_file, skipped = 0, 0.0, {}, []
    for path in paths:
        try:
            rows, duration = stream_file(predictor, path, config, batch_size, cache=cache)
        except AudioError as error:
            log.warning(f"skipped {path}: {error.message}")
            skipped.append(str(path))
            continue
        detections += len(rows)
        seconds += duration
        per_file[Path(path).name] = len(rows)
    hours = seconds / 3600
    return {
        "false_accepts": detections,
        "hours": round(hours, 4),
        "false_accepts_per_hour": round(detections / hours, 2) if hours else None,
        "per_file": per_file,
        "skipped": skipped,
        "threshold": config.threshold,
    }
