"""Custom keywords from text alone: a synthetic corpus, a model, and a calibrated threshold.

For a user without recordings of their keyword (openWakeWord's use case), ``kws train
--keywords "hey lumen,lights on"`` writes a Speech Commands-layout corpus spoken by many
synthetic voices (espeak-ng and flite, each with its own pitch, speed, timbre, room and
microphone; ``kws.synth``):

- one folder per keyword, several takes per voice;
- ``_unknown_``: what must not fire: the keyword's own words alone, phrases with one word
  swapped for a phonetically close one and close single words (one phone substituted,
  inserted or deleted, from the CMU pronouncing dictionary that pocketsphinx ships), and
  general speech (random dictionary words and short word sequences), and one-second windows
  cut at random from a few seconds of continuous speech by each voice (what a stream looks like:
  words cut at the window's edges, several in one window);
- silence, cut from the background noise at training time.

Noise from ``--background`` (real recordings, where the user has them) is mixed into the
clips and into training. The corpus is cached under a hash of its settings, so a second run
with the same keywords reuses it. Beside the clips, the head trains on hours of keyword-free
speech embeddings (``kws.negatives``: a bank built once and shared by every keyword, every
window of it a weighted negative), and on time-shifted copies of the keyword clips. A threshold
is then calibrated on an hour of keyword-free speech and a near-miss stream by the validation
voices, for a target number of false accepts per hour, and measured on the testing voices' own.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from dlcli.errors import UsageError
from dlcli.files import write_text_atomic
from dlcli.kws.data import BACKGROUND_FOLDER, SAMPLE_RATE, UNKNOWN, WORDS
from dlcli.kws.negatives import contains_phrase

log = logging.getLogger("dlcli.kws")

CORPUS_VERSION = 1  # part of the cache key: bump when the generator changes what it writes
STREAMS_FOLDER = "_streams_"  # the generated keyword-free speech streams, beside the clips


# ----------------------------------------------------------------------------- pronunciations


@functools.cache
def pronouncing_dictionary() -> dict[str, tuple[str, ...]]:
    """The CMU dictionary shipped with pocketsphinx: word -> phones without stress marks (first pronunciation)."""
    try:
        import pocketsphinx
    except ImportError:
        raise UsageError(
            "confusable negatives need the CMU dictionary of pocketsphinx: pip install 'dlcli[wakeword]'"
        ) from None
    path = Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"
    words: dict[str, tuple[str, ...]] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) < 2 or "(" in parts[0] or not parts[0].isalpha():
            continue
        words.setdefault(parts[0], tuple(phone.rstrip("012") for phone in parts[1:]))
    return words


def _phone_distance(a: tuple[str, ...], b: tuple[str, ...], limit: int) -> int:
    """Levenshtein distance over phones, stopping early above ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, phone in enumerate(a, 1):
        current = [i]
        for j, other in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (phone != other)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


@functools.cache
def confusable_words(word: str, limit: int = 1) -> tuple[str, ...]:
    """Dictionary words one phone away from ``word`` (homophones excluded: they are the word)."""
    dictionary = pronouncing_dictionary()
    phones = dictionary.get(word)
    if phones is None:
        return ()
    return tuple(
        sorted(
            other
            for other, candidate in dictionary.items()
            if other != word and 0 < _phone_distance(phones, candidate, limit) <= limit and 2 <= len(other) <= 10
        )
    )


@functools.cache
def general_words() -> tuple[str, ...]:
    """Everyday-looking dictionary words for general speech negatives (alphabetic, 3-8 letters)."""
    return tuple(w for w in pronouncing_dictionary() if 3 <= len(w) <= 8) + WORDS


def negative_texts(keywords: list[str], rng: np.random.Generator, confusable: int, general: int) -> list[str]:
    """``confusable`` near misses and ``general`` other phrases for one voice, none equal to a keyword."""
    near: list[str] = []
    for keyword in keywords:
        parts = keyword.split()
        if len(parts) > 1:
            near += parts  # a word of the phrase on its own must not fire
        for index, part in enumerate(parts):
            for other in confusable_words(part)[:400]:
                near.append(" ".join(parts[:index] + [other] + parts[index + 1 :]))
    near = sorted(set(near) - set(keywords))
    texts = [str(t) for t in rng.choice(near, size=min(confusable, len(near)), replace=False)] if near else []
    pool = general_words()
    for _ in range(general):
        length = int(rng.choice([1, 1, 2, 3]))
        texts.append(" ".join(str(pool[int(i)]) for i in rng.integers(0, len(pool), length)))
    return [t for t in texts if t not in keywords]


# ----------------------------------------------------------------------------- corpus


@dataclass
class KeywordCorpusConfig:
    keywords: list[str] = field(default_factory=list)  # phrases, lower case
    voices: int = 200  # synthetic speakers (split 80/10/10 by the hash rule)
    takes: int = 2  # clips of each keyword per voice
    confusable: int = 6  # near-miss clips per voice
    general: int = 6  # general-speech clips per voice
    stream_windows: int = 8  # one-second windows cut from continuous speech by each voice (what streams look like)
    flite_share: float = 0.5  # flite voices are closer to human speech than espeak-ng's
    seed: int = 0
    background: str | None = None  # real noise mixed into the clips too
    workers: int = 0  # processes (0: one per CPU)

    def __post_init__(self) -> None:
        self.keywords = [" ".join(k.lower().split()) for k in self.keywords if k.strip()]
        if not self.keywords:
            raise ValueError("give at least one keyword")
        for keyword in self.keywords:
            if not all(part.isalpha() for part in keyword.split()):
                raise ValueError(f"keywords are words of letters separated by spaces, not {keyword!r}")
        if self.voices < 10:
            raise ValueError("use at least 10 voices (they are split 80/10/10 into training/validation/testing)")

    def key(self) -> str:
        settings = {k: v for k, v in asdict(self).items() if k != "workers"}
        return hashlib.sha1(json.dumps([CORPUS_VERSION, settings], sort_keys=True).encode()).hexdigest()[:16]


def folder_name(keyword: str) -> str:
    """A keyword's folder and label: its words joined by underscores ("hey lumen" -> hey_lumen)."""
    return "_".join(keyword.split())


def corpus_cache(config: KeywordCorpusConfig) -> Path:
    root = os.environ.get("DLCLI_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dlcli"
    )
    return Path(root) / "kws-keywords" / config.key()


def _speak_voice(job: tuple) -> list[str]:
    """Worker: every clip of one voice (existing files are kept, so an interrupted run resumes)."""
    from dlcli.audio import save_audio
    from dlcli.kws.data import CLIP_SAMPLES
    from dlcli.kws.synth import _noise_pool, _trim, record, speak, take

    out, voice, synth_config, items, noise_folders = job
    pool = _noise_pool(noise_folders)
    written = []
    for name, text, seed, *windows in items:
        if windows:  # continuous speech cut into one-second windows: words cut at the edges, several per window
            names = windows[0]
            written += names
            if all((Path(out) / n).exists() for n in names):
                continue
            rng = np.random.default_rng(seed)
            speech = _trim(speak(voice, text))
            for window_name in names:
                start = int(rng.integers(0, max(1, len(speech) - CLIP_SAMPLES)))
                clip = record(speech[start : start + CLIP_SAMPLES], voice, rng, pool, synth_config)
                save_audio(Path(out) / window_name, clip, SAMPLE_RATE)
            continue
        destination = Path(out) / name
        if not destination.exists():
            save_audio(destination, take(voice, text, np.random.default_rng(seed), pool, synth_config), SAMPLE_RATE)
        written.append(name)
    return written


def generate_keyword_corpus(out: str | Path, config: KeywordCorpusConfig, *, quiet: bool = False) -> dict:
    """Write (or complete) the corpus in ``out``; returns its summary (also in corpus.json)."""
    from dlcli.console import progress
    from dlcli.kws import noise as noises
    from dlcli.kws.synth import SynthConfig, draw_voices

    out = Path(out)
    summary_path = out / "corpus.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if summary.get("key") == config.key():
            return summary
    synth_config = SynthConfig(voices=config.voices, seed=config.seed, flite_share=config.flite_share, words=["yes"])
    voices = draw_voices(synth_config)
    noise_dir = out / BACKGROUND_FOLDER
    noises.write_noise_files(noise_dir, 60.0, config.seed)
    folders = [str(noise_dir)] + ([config.background] if config.background else [])
    jobs = []
    for index, voice in enumerate(voices):
        rng = np.random.default_rng([config.seed, 17, index])
        items = [
            (f"{folder_name(k)}/{voice.speaker}_nohash_{t}.wav", k, [config.seed, index, k_index, t])
            for k_index, k in enumerate(config.keywords)
            for t in range(config.takes)
        ]
        negatives = negative_texts(config.keywords, rng, config.confusable, config.general)
        items += [(f"{UNKNOWN}/{voice.speaker}_nohash_{n}.wav", text, [config.seed, index, 99, n])
                  for n, text in enumerate(negatives)]  # fmt: skip
        if config.stream_windows:
            text = " ".join(negative_texts(config.keywords, rng, 1, 5))
            windows = [f"{UNKNOWN}/{voice.speaker}_nohash_s{n}.wav" for n in range(config.stream_windows)]
            items.append(("", text, [config.seed, index, 98], windows))
        jobs.append((str(out), voice, synth_config, items, tuple(folders)))
    workers = config.workers or os.cpu_count() or 1
    names: dict[str, list[str]] = {}
    with progress(disable=quiet) as bar:
        task = bar.add_task("speaking", total=len(jobs), info=f"{len(voices)} voices")
        executor = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
        results = executor.map(_speak_voice, jobs) if executor else map(_speak_voice, jobs)
        for voice, written in zip(voices, results):
            names[voice.speaker] = written
            bar.advance(task)
        if executor:
            executor.shutdown()
    for split, list_name in (("validation", "validation_list.txt"), ("testing", "testing_list.txt")):
        held_out = sorted(n for v in voices if v.split == split for n in names[v.speaker])
        write_text_atomic(out / list_name, "".join(f"{n}\n" for n in held_out))
    summary = {
        "key": config.key(),
        "clips": sum(len(v) for v in names.values()),
        "voices": {s: sum(v.split == s for v in voices) for s in ("training", "validation", "testing")},
        "speakers": {s: [v.speaker for v in voices if v.split == s] for s in ("validation", "testing")},
        "labels": [folder_name(k) for k in config.keywords],
        "config": asdict(config),
    }
    write_text_atomic(summary_path, json.dumps(summary, indent=2) + "\n")
    return summary


# ----------------------------------------------------------------------------- negative streams


def speech_stream(
    path: str | Path,
    config: KeywordCorpusConfig,
    split: str,
    seconds: float,
    *,
    seed: int = 0,
    noise: list[np.ndarray] | None = None,
) -> Path:
    """A long recording of keyword-free speech by the ``split`` voices, with pauses and a noise floor.

    Phrases (general speech and near misses) follow one another as in conversation; the
    file is the negative set for false accepts per hour and for threshold calibration.
    """
    from dlcli.audio import save_audio
    from dlcli.kws.synth import SynthConfig, _trim, draw_voices, speak

    rng = np.random.default_rng([seed, 23, len(split)])
    synth_config = SynthConfig(voices=config.voices, seed=config.seed, flite_share=config.flite_share, words=["yes"])
    voices = [v for v in draw_voices(synth_config) if v.split == split]
    total = int(seconds * SAMPLE_RATE)
    audio = np.zeros(total, np.float32)
    position = 0
    while position < total:
        voice = voices[int(rng.integers(len(voices)))]
        texts = negative_texts(config.keywords, rng, 1, 3)
        speech = _trim(speak(voice, " ".join(texts)))
        speech *= 10 ** (rng.uniform(-24, -4) / 20) / (np.abs(speech).max() + 1e-9)
        end = min(total, position + len(speech))
        audio[position:end] += speech[: end - position]
        position = end + int(rng.uniform(0.2, 1.5) * SAMPLE_RATE)
    if noise:
        source = noise[int(rng.integers(len(noise)))]
        floor = np.resize(source, total) * 10 ** (rng.uniform(-40, -25) / 20) / (np.abs(source).max() + 1e-9)
        audio += floor.astype(np.float32)
    save_audio(path, np.clip(audio, -1, 1), SAMPLE_RATE)
    return Path(path)


# candidate thresholds: 0.05..0.99, then finer towards 1 (a head trained on hours of negatives is confident)
THRESHOLDS = tuple(t / 100 for t in range(5, 99)) + tuple(t / 1000 for t in range(990, 1000))  # 0.05 .. 0.999


def calibrate_threshold(predictor, paths, stream_config, target_per_hour: float, batch_size: int = 64) -> dict:
    """The lowest threshold whose false accepts on ``paths`` stay within ``target_per_hour``.

    Every candidate threshold (0.05..0.999) is scored with the same detector as ``infer
    --stream``, on class probabilities computed once (a front end's stream embeddings cached).
    """
    import dataclasses

    from dlcli.audio import load_audio
    from dlcli.kws.infer import detect, window_probabilities

    hop = max(1, int(round(stream_config.hop_seconds * predictor.sample_rate)))
    scored, seconds = [], 0.0
    for path in paths:
        audio, rate = load_audio(path, predictor.sample_rate)
        scored.append(window_probabilities(predictor, audio, hop, batch_size, cache=True))
        seconds += len(audio) / rate
    hours = seconds / 3600
    allowed = int(np.floor(target_per_hour * hours + 1e-9))
    table = []
    chosen = None
    for threshold in THRESHOLDS:
        config = dataclasses.replace(stream_config, threshold=float(threshold))
        count = sum(len(detect(p, predictor.keyword_indices, hop / predictor.sample_rate, config)) for p in scored)
        table.append((float(threshold), count))
        if chosen is None and count <= allowed:
            chosen = float(threshold)
    if chosen is None:
        log.warning(f"no threshold up to {THRESHOLDS[-1]} keeps the false accepts within {target_per_hour:g} per hour")
    return {
        "threshold": chosen if chosen is not None else THRESHOLDS[-1],
        "target_false_accepts_per_hour": target_per_hour,
        "hours": round(hours, 4),
        "false_accepts_at_threshold": dict(table).get(chosen if chosen is not None else THRESHOLDS[-1]),
        "table": table,
    }


# ----------------------------------------------------------------------------- the whole flow


def _stream_recall(predictor, corpus_dir: Path, stream_config, pad_seconds: float = 0.5) -> dict:
    """Share of the testing voices' keyword clips that ``infer --stream``'s detector finds, each inside
    ``pad_seconds`` of silence: the recall a user meets, where the clip-level figure assumes a window
    aligned with the word."""
    from dlcli.audio import load_audio
    from dlcli.kws.data import scan_corpus
    from dlcli.kws.infer import detect, window_probabilities

    hop = max(1, int(round(stream_config.hop_seconds * predictor.sample_rate)))
    pad = int(pad_seconds * predictor.sample_rate)
    report = {}
    clips = [c for c in scan_corpus(corpus_dir).clips if c.split == "testing"]
    for index in predictor.keyword_indices:
        label = predictor.labels[index]
        found = []
        for clip in (c for c in clips if c.word == label):
            audio, _ = load_audio(clip.path, predictor.sample_rate)
            probabilities = window_probabilities(predictor, np.pad(audio, (pad, pad)), hop)
            found.append(
                any(
                    c == index for _, c, _ in detect(probabilities, [index], hop / predictor.sample_rate, stream_config)
                )
            )
        report[f"recall_{label}"] = float(np.mean(found)) if found else None
    return report


def _clip_scores(predictor, corpus_dir: Path, split: str, threshold: float) -> dict:
    """Recall of the keywords on the ``split`` voices' clips at ``threshold``, and the near-miss accept rate."""
    from dlcli.kws.data import build_split, get_task, scan_corpus
    from dlcli.kws.evaluate import predict

    corpus = scan_corpus(corpus_dir)
    task = get_task("keywords")
    data = build_split(corpus, task, predictor.labels, split)
    logits = predict(predictor, data.clips)
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    keywords = predictor.keyword_indices
    report = {"split": split, "threshold": threshold, "accuracy": float((logits.argmax(1) == data.targets).mean())}
    for index in keywords:
        mine = data.targets == index
        report[f"recall_{predictor.labels[index]}"] = float((probabilities[mine, index] >= threshold).mean())
    unknown = data.targets == predictor.labels.index(UNKNOWN)
    fired = probabilities[unknown][:, keywords].max(axis=1) >= threshold
    report["negative_clips"] = int(unknown.sum())
    report["negative_clips_accepted"] = float(fired.mean()) if unknown.any() else None
    return report


@dataclass
class NegativeSpeechConfig:
    """Hours of keyword-free speech for training (``kws.negatives``) and for calibrating the threshold."""

    bank: str | None = None  # folder of cached banks (default: under the dlcli cache)
    hours: float = 2.0  # generated speech in the bank (made once, shared by every keyword)
    speech: list[str] = field(default_factory=list)  # folders of the user's own keyword-free recordings
    weight: float = 5.0  # loss weight of a bank window, ramped up from 1 (openWakeWord's false-positive penalty)
    mining: bool = True  # a second round with the bank windows the first round scored highest


def _mine(model, negatives, keyword_indices: list[int], frames: int, limit: int = 5000, floor: float = 0.2):
    """The bank windows a trained head scores at least ``floor`` for a keyword (at most ``limit``, highest first)."""
    from dlcli.kws.negatives import score_windows

    scores = score_windows(model, negatives, negatives.train_starts, keyword_indices, frames)
    order = np.argsort(-scores)[:limit]
    order = order[scores[order] >= floor]
    return negatives.train_starts[np.sort(order)], scores


def train_keywords(
    out: str | Path,
    corpus_config: KeywordCorpusConfig,
    config,
    *,
    corpus_dir: str | Path | None = None,
    target_per_hour: float = 1.0,
    stream_seconds: float = 600.0,
    negative: NegativeSpeechConfig | None = None,
    positive_shifts: int = 4,
    calibration_seconds: float = 3600.0,
    overwrite: bool = False,
    quiet: bool = False,
    echo=print,
) -> dict:
    """Corpus (cached), negative speech bank (cached), model, threshold for ``target_per_hour`` false
    accepts, test figures; written to ``out/keywords.json``.

    Without ``negative`` the head trains on the corpus's clips alone (the first design, kept to compare).
    ``positive_shifts``: time-shifted copies of every keyword clip (0: the clips as generated).
    ``calibration_seconds``: general speech by the validation voices the threshold is calibrated on, beside
    the near-miss stream (the testing voices' as much, on other texts, measures it; 0: near misses only).
    """
    import time

    from dlcli.audio import list_audio_files
    from dlcli.kws.data import load_background
    from dlcli.kws.embedding import embeddings_per_clip
    from dlcli.kws.infer import StreamConfig, false_accepts
    from dlcli.kws.negatives import BankConfig, bank_negatives, build_bank, stream_texts
    from dlcli.kws.negatives import speech_stream as general_stream
    from dlcli.kws.predictor import load_predictor
    from dlcli.kws.train import train

    started = time.perf_counter()
    clock = lambda: round(time.perf_counter() - started, 1)  # noqa: E731
    out = Path(out)
    corpus_dir = Path(corpus_dir) if corpus_dir else corpus_cache(corpus_config)
    stages = 5 if negative else 4
    echo(f"[1/{stages}] corpus: {corpus_config.voices} voices x {len(corpus_config.keywords)} keywords -> {corpus_dir}")
    summary = generate_keyword_corpus(corpus_dir, corpus_config, quiet=quiet)
    timings = {"corpus_s": clock()}
    negatives, stage = None, 2
    frames = embeddings_per_clip()
    if negative:
        echo(
            f"[2/{stages}] negative speech: {negative.hours:g} h generated"
            + (f" + {', '.join(negative.speech)}" if negative.speech else "")
        )
        bank = build_bank(
            negative.bank, BankConfig(hours=negative.hours), speech=negative.speech, quiet=quiet, echo=echo
        )
        negatives = bank_negatives(bank, frames, corpus_config.keywords, negative.weight)
        timings["bank_s"] = round(clock() - timings["corpus_s"], 1)
        stage = 3
    echo(
        f"[{stage}/{stages}] training on {summary['clips']} clips"
        + (f" and {len(negatives.train_starts):,} windows of {bank.hours:.2f} h of speech" if negatives else "")
        + f" ({clock()} s so far)"
    )
    config.data.task = "keywords"
    config.data.background = corpus_config.background
    mining = {}
    result = train(corpus_dir, out, config, overwrite=overwrite, negatives=negatives, positive_shifts=positive_shifts)
    if negatives is not None and negative.mining:
        # a second round only where the first leaves bank windows it scores high, starting from the first
        predictor = load_predictor(result.best_path or result.last_path, device="cpu")
        hard, scores = _mine(predictor.model, negatives, predictor.keyword_indices, frames)
        mining = {"windows_scored": len(scores), "hard_windows": len(hard), "above_0.5": int((scores >= 0.5).sum())}
        echo(f"      hard negatives: {len(hard):,} bank windows score >= 0.2 ({mining['above_0.5']:,} >= 0.5)")
        if len(hard):
            first = out / "first-round.pt"
            shutil.copyfile(result.best_path or result.last_path, first)
            negatives.hard_starts = hard
            echo("      second round with the hard negatives")
            result = train(
                corpus_dir,
                out,
                config,
                overwrite=True,
                negatives=negatives,
                init=first,
                positive_shifts=positive_shifts,
            )
    timings["train_s"] = round(clock() - sum(timings.values()), 1)
    predictor = load_predictor(result.best_path or result.last_path, device="cpu")
    noise_folder = corpus_config.background or str(corpus_dir / BACKGROUND_FOLDER)

    noise = load_background(list_audio_files(noise_folder))
    streams = corpus_dir / STREAMS_FOLDER  # not a word folder: scan_corpus skips names starting with "_"
    streams.mkdir(exist_ok=True)
    report: dict = {"keywords": corpus_config.keywords, "labels": predictor.labels, "corpus": str(corpus_dir)}
    if negatives is not None:
        report["negative_speech"] = {
            **asdict(negative),
            "bank_hours": round(bank.hours, 3),
            "bank_windows": len(negatives.train_starts),
            **mining,
        }
    stage += 1
    near_miss = {}
    for split, seed in (("validation", 0), ("testing", 1)):
        near_miss[split] = streams / f"{split}-{int(stream_seconds)}s.wav"
        if not near_miss[split].is_file():
            speech_stream(near_miss[split], corpus_config, split, stream_seconds, seed=seed, noise=noise)
    calibration, general = [near_miss["validation"]], {}
    if calibration_seconds > 0:
        for split, seed in (("validation", 1), ("testing", 2)):
            general[split] = general_stream(
                corpus_config, split, calibration_seconds, text_seed=seed, root=negative.bank if negative else None
            )
            spoken = [
                t for t in stream_texts(general[split]) if any(contains_phrase(t, k) for k in corpus_config.keywords)
            ]
            if spoken:
                log.warning(
                    f"{general[split]}: {len(spoken)} utterances hold a keyword ({spoken[0]!r}); they count as false accepts"
                )
        calibration.insert(0, general["validation"])
    minutes = sum(sf_seconds(p) for p in calibration) / 60
    echo(
        f"[{stage}/{stages}] calibrating the threshold on {minutes:.0f} min of validation voices' speech ({clock()} s so far)"
    )
    stream_config = StreamConfig()
    report["calibration"] = calibrate_threshold(predictor, calibration, stream_config, target_per_hour)
    threshold = report["calibration"]["threshold"]
    stream_config.threshold = threshold
    stage += 1
    echo(f"[{stage}/{stages}] testing on held-out voices (threshold {threshold})")
    report["streams"] = {
        "calibration": [str(p) for p in calibration],
        "testing_near_miss": str(near_miss["testing"]),
        **({"testing_general": str(general["testing"])} if general else {}),
    }
    report["test_clips"] = _clip_scores(predictor, corpus_dir, "testing", threshold)
    report["test_stream_recall"] = _stream_recall(predictor, corpus_dir, stream_config)
    report["test_speech_false_accepts"] = false_accepts(predictor, [near_miss["testing"]], stream_config, cache=True)
    if general:
        report["test_general_speech_false_accepts"] = false_accepts(
            predictor, [general["testing"]], stream_config, cache=True
        )
    timings["total_s"] = clock()
    report["timings"] = timings
    report["threshold"] = threshold
    write_text_atomic(out / "keywords.json", json.dumps(report, indent=2) + "\n")
    return report


def sf_seconds(path: Path) -> float:
    """Duration of an audio file from its header."""
    import soundfile

    return soundfile.info(str(path)).duration
