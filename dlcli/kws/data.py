"""Speech Commands folders: the layout, the paper's tasks, the official splits, clips as tensors.

Layout (v0.01 and v0.02 alike): one folder per word, ``validation_list.txt`` and
``testing_list.txt`` naming held-out files relative to the root, ``_background_noise_``
with long noise recordings (never a class). The released test sets add ``_unknown_`` and
``_silence_`` folders, read as those two classes (all of such a folder is the test split). Without the list files the split comes from
the official hash rule on the speaker part of the file name, so every take of a speaker
lands in the same split. Any audio format and sample rate is read (resampled to 16 kHz
mono) and centre padded or cropped to one second.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlcli.audio import list_audio_files, load_audio
from dlcli.errors import AudioError, InputError
from dlcli.kws.tasks import (  # noqa: F401  (re-exported: the words and tasks are part of this module's interface)
    ADDED_IN_V2,
    AUXILIARY,
    COMMANDS,
    DIGITS,
    SILENCE,
    TASKS,
    UNKNOWN,
    WORDS,
    Task,
    get_task,
)

log = logging.getLogger("dlcli.kws")

SAMPLE_RATE = 16000
CLIP_SAMPLES = 16000
BACKGROUND_FOLDER = "_background_noise_"
SPLITS = ("training", "validation", "testing")

_MAX_PER_CLASS = 2**27 - 1  # the constant of the official split function
_NOHASH = re.compile(r"_nohash_.*$")


# ----------------------------------------------------------------------------- splits


def speaker_of(path: str | Path) -> str:
    """The speaker part of a clip name: the text before ``_nohash_`` (the whole stem if absent)."""
    return _NOHASH.sub("", Path(path).stem)


def split_of(name: str | Path, validation_percent: float = 10.0, testing_percent: float = 10.0) -> str:
    """The official Speech Commands split of a file (or speaker) name: sha1 of the speaker part."""
    digest = hashlib.sha1(speaker_of(name).encode("utf-8")).hexdigest()
    percentage = (int(digest, 16) % (_MAX_PER_CLASS + 1)) * (100.0 / _MAX_PER_CLASS)
    if percentage < validation_percent:
        return "validation"
    if percentage < validation_percent + testing_percent:
        return "testing"
    return "training"


# ----------------------------------------------------------------------------- corpus


@dataclass
class Clip:
    path: Path
    word: str
    speaker: str
    split: str


@dataclass
class Corpus:
    root: Path
    clips: list[Clip]
    words: list[str]  # word folders found
    background: list[Path]  # files of _background_noise_
    split_source: str  # "lists" or "hash rule"

    def select(self, split: str | None) -> list[Clip]:
        return [c for c in self.clips if split is None or c.split == split]


def _read_list(path: Path) -> set[str]:
    """Entries of a split list, without extension (lists name .wav, a converted corpus may hold .flac)."""
    if not path.is_file():
        return set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read the split list: {error}", path=path) from None
    return {str(Path(line.strip()).with_suffix("")) for line in lines if line.strip()}


def scan_corpus(root: str | Path, *, validation_percent: float = 10.0, testing_percent: float = 10.0) -> Corpus:
    """Every clip of a Speech Commands folder with its word, speaker and split."""
    root = Path(root)
    if not root.is_dir():
        raise InputError("not a folder (a Speech Commands folder has one sub-folder per word)", path=root)
    # word folders, and the _unknown_ / _silence_ folders of the released test-set layout (read as those classes)
    folders = sorted(
        p for p in root.iterdir() if p.is_dir() and (p.name in (UNKNOWN, SILENCE) or not p.name.startswith((".", "_")))
    )
    validation, testing = _read_list(root / "validation_list.txt"), _read_list(root / "testing_list.txt")
    use_lists = bool(validation or testing)
    # the released test sets (speech_commands_test_set_v0.0x) have _unknown_ and _silence_ folders and no
    # lists: every clip of such a folder is a test clip, not just the hash rule's tenth
    released_test_set = not use_lists and any(f.name in (UNKNOWN, SILENCE) for f in folders)
    clips = []
    for folder in folders:
        for path in list_audio_files(folder, recursive=False):
            key = f"{folder.name}/{path.stem}"
            if use_lists:
                split = "validation" if key in validation else "testing" if key in testing else "training"
            elif released_test_set:
                split = "testing"
            else:
                split = split_of(path.name, validation_percent, testing_percent)
            clips.append(Clip(path, folder.name, speaker_of(path), split))
    words = sorted({c.word for c in clips} - {UNKNOWN, SILENCE})
    if not clips:
        raise InputError("no audio clips in word folders (expected WORD/SPEAKER_nohash_N.wav)", path=root)
    background_dir = root / BACKGROUND_FOLDER
    background = list_audio_files(background_dir) if background_dir.is_dir() else []
    source = "lists" if use_lists else "released test set" if released_test_set else "hash rule"
    return Corpus(root, clips, words, background, source)


def task_examples(corpus: Corpus, task: Task, labels: Sequence[str], split: str | None) -> tuple[list[Path], list[int]]:
    """Paths and label indices of ``split`` (None: all) for ``task``; words outside it left out or unknown."""
    paths, targets = [], []
    for clip in corpus.select(split):
        label = task.label_of(clip.word, labels)
        if label is not None:
            paths.append(clip.path)
            targets.append(label)
    return paths, targets


# ----------------------------------------------------------------------------- audio


def fit_length(samples: np.ndarray, length: int = CLIP_SAMPLES) -> np.ndarray:
    """Centre zero-pad or centre-crop to ``length`` samples."""
    if len(samples) == length:
        return samples
    if len(samples) > length:
        start = (len(samples) - length) // 2
        return samples[start : start + length]
    padded = np.zeros(length, dtype=samples.dtype)
    start = (length - len(samples)) // 2
    padded[start : start + len(samples)] = samples
    return padded


def load_clip(path: str | Path) -> np.ndarray:
    """One clip as float32 (16000,) at 16 kHz."""
    samples, _ = load_audio(path, SAMPLE_RATE)
    return fit_length(samples)


def load_clips(
    paths: Sequence[Path], *, threads: int = 4, show: bool = False, what: str = "reading clips"
) -> tuple[np.ndarray, list[int], list[tuple[Path, str]]]:
    """Decode clips in threads (libsndfile and soxr release the GIL) into int16 (n, 16000).

    Returns (clips, indices of ``paths`` that loaded, [(path, reason)] for those that failed).
    int16 halves the memory of float32 and loses nothing for 16-bit sources.
    """
    from dlcli.console import progress

    clips = np.zeros((len(paths), CLIP_SAMPLES), dtype=np.int16)
    ok = np.zeros(len(paths), dtype=bool)
    failures: list[tuple[Path, str]] = []

    def work(index: int) -> None:
        try:
            samples = load_clip(paths[index])
        except AudioError as error:
            failures.append((paths[index], error.message))
            return
        clips[index] = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
        ok[index] = True

    with progress(disable=not show, transient=True) as bar, ThreadPoolExecutor(threads) as pool:
        task = bar.add_task(what, total=len(paths), info="")
        for _ in pool.map(work, range(len(paths))):
            bar.advance(task)
    loaded = np.flatnonzero(ok)
    return clips[loaded], loaded.tolist(), sorted(failures)


def load_background(paths: Sequence[Path], failures: list[tuple[Path, str]] | None = None) -> list[np.ndarray]:
    """Background-noise recordings as float32 16 kHz (files shorter than a clip are tiled).

    An unreadable file is an error, or, when ``failures`` is given, appended to it and skipped.
    """
    noises = []
    for path in paths:
        try:
            samples, _ = load_audio(path, SAMPLE_RATE)
        except AudioError as error:
            if failures is None:
                raise
            failures.append((Path(path), error.message))
            continue
        if len(samples) < CLIP_SAMPLES:
            samples = np.resize(samples, CLIP_SAMPLES)
        noises.append(samples.astype(np.float32))
    return noises


def silence_clips(noises: Sequence[np.ndarray], count: int, seed: int) -> np.ndarray:
    """``count`` one-second "silence" clips: background noise at random volume, some digital silence.

    Deterministic in ``seed`` so each split's silence set is the same across runs.
    """
    rng = np.random.default_rng(seed)
    clips = np.zeros((count, CLIP_SAMPLES), dtype=np.float32)
    for index in range(count):
        if not noises or rng.random() < 0.1:
            clips[index] = rng.standard_normal(CLIP_SAMPLES) * 10 ** rng.uniform(-5, -3)  # a quiet room
            continue
        source = noises[int(rng.integers(len(noises)))]
        start = int(rng.integers(0, len(source) - CLIP_SAMPLES + 1))
        piece = source[start : start + CLIP_SAMPLES]
        clips[index] = piece * rng.uniform(0.05, 1.0) / max(np.abs(piece).max(), 1e-6)
    return np.round(np.clip(clips, -1, 1) * 32767).astype(np.int16)


# ----------------------------------------------------------------------------- task splits


@dataclass
class SplitData:
    """One split of a task, decoded: int16 clips (n, 16000), label indices, the files behind them."""

    clips: np.ndarray
    targets: np.ndarray
    paths: list[str]  # "" for generated silence
    failures: list[tuple[Path, str]]


def _stable_order(paths: Sequence[Path], seed: int) -> list[int]:
    """A seeded permutation that does not depend on the order files were listed in."""
    keys = [hashlib.sha1(f"{seed}:{p.parent.name}/{p.name}".encode()).hexdigest() for p in paths]
    return sorted(range(len(paths)), key=keys.__getitem__)


def build_split(
    corpus: Corpus,
    task: Task,
    labels: Sequence[str],
    split: str | None,
    *,
    noises: Sequence[np.ndarray] = (),
    max_clips: int | None = None,
    seed: int = 0,
    show: bool = False,
    cache: bool = True,
) -> SplitData:
    """Decode one split for ``task``.

    With a silence class (12-class) the split is balanced as in the literature: unknown
    clips are cut down to the size of an average keyword class, and as many silence
    clips are cut from the background noise. ``max_clips`` keeps a seeded random subset.
    """
    paths, targets = task_examples(corpus, task, labels, split)
    # the released test-set layout brings its own _silence_ clips and an already balanced _unknown_ folder
    given = {c.word for c in corpus.select(split)} & {UNKNOWN, SILENCE}
    if task.silence and not given:
        unknown = labels.index(UNKNOWN)
        known = [i for i, t in enumerate(targets) if t != unknown]
        others = [i for i, t in enumerate(targets) if t == unknown]
        per_class = max(1, round(len(known) / max(1, len(task.keywords or ()))))
        keep = sorted(known + [others[i] for i in _stable_order([paths[i] for i in others], seed)[:per_class]])
        paths, targets = [paths[i] for i in keep], [targets[i] for i in keep]
    if max_clips is not None and len(paths) > max_clips:
        keep = sorted(_stable_order(paths, seed)[:max_clips])
        paths, targets = [paths[i] for i in keep], [targets[i] for i in keep]
    decode = lambda files: load_clips(files, show=show, what=f"reading {split or 'all'} clips")  # noqa: E731
    if cache:
        from dlcli.kws.clipcache import cached_decode

        clips, loaded, failures = cached_decode(paths, decode, sample_rate=SAMPLE_RATE, clip_samples=CLIP_SAMPLES)
    else:
        clips, loaded, failures = decode(paths)
    targets_array = np.asarray(targets, dtype=np.int64)[loaded]
    names = [str(paths[i]) for i in loaded]
    if task.silence and SILENCE not in given:
        count = max(1, round(len(loaded) / max(1, len(labels) - 1)))
        if max_clips is not None:
            count = min(count, max(1, max_clips // len(labels)))
        split_seed = seed * 1000 + (SPLITS.index(split) if split in SPLITS else 9)
        clips = np.concatenate([clips, silence_clips(noises, count, split_seed)])
        targets_array = np.concatenate([targets_array, np.full(count, labels.index(SILENCE))])
        names += [""] * count
    return SplitData(clips, targets_array, names, failures)
