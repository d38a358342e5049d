"""Hours of keyword-free speech as training negatives: an embedding bank built once, reused by every keyword.

A head trained on a few thousand isolated clips learns what the keyword is not only from
those clips, and fires on ordinary speech (30-60 false accepts per hour on real read speech
were measured). openWakeWord trains its heads on hours of precomputed speech features
instead, every 80 ms window of them a negative. The bank is that for dlcli: continuous speech
by many synthetic voices (espeak-ng and flite, each with its own room and microphone) on
varied text, embedded once as a stream by the frozen front end (``kws.embedding``; one
embedding every 80 ms, far cheaper per second than clip by clip) and kept as ``.npy`` chunks
in a cache folder (``--negative-bank``; default under the dlcli cache). Real speech
recordings the user has (``--negative-speech``) are embedded the same way and cached beside.
Every window of nine consecutive embeddings is a training negative, except windows that
touch an utterance whose text holds the keyword.

The same generator writes the long keyword-free streams on which a threshold is calibrated
(the corpus's validation voices) and measured (its testing voices, other texts).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dlcli.kws.data import SAMPLE_RATE

log = logging.getLogger("dlcli.kws")

BANK_VERSION = 1  # part of the cache key: bump when the generator changes what it writes

# the most frequent English function and everyday words: utterances alternate them with dictionary words,
# so the bank has the rhythm of speech (short unstressed words between content words)
_COMMON = """the of and to a in is it you that he was for on are with as his they be at one have this from or had
    by not but what some we can out other were all there when up use your how said an each she which do
    their time if will way about many then them would write like so these her long make thing see him two
    has look more day could go come did number sound no most people my over know water than call first who
    may down side been now find any new work part take get place made live where after back little only
    round man year came show every good me give our under name very through just form great think say help
    low line before turn cause same mean differ move right boy old too does tell sentence set three want air
    well also play small end put home read hand port large spell add even land here must big high such
    follow act why ask men change went light kind off need house picture try us again animal point mother
    world near build self earth father head stand own page should country found answer school grow study
    still learn plant cover food sun four thought let keep eye never last door between city tree cross
    since hard start might story saw far sea draw left late run while press close night real life few stop
    open seem together next white children begin got walk example ease paper often always music those both
    mark book letter until mile river car feet care second group carry took rain eat room friend began idea
    fish mountain north once base hear horse cut sure watch colour face wood main enough plain girl usual
    young ready above ever red list though feel talk bird soon body dog family direct pose leave song
    measure state product black short numeral class wind question happen complete ship area half rock order
    fire south problem piece told knew pass farm top whole king size heard best hour better true during
    hundred am remember step early hold west ground interest reach fast five sing listen six table travel
    less morning ten simple several vowel toward war lay against pattern slow centre love person money serve
    appear road map science rule govern pull cold notice voice fall power town fine certain fly unit lead
    cry dark machine note wait plan figure star box noun field rest correct able pound done beauty drive
    stood contain front teach week final gave green oh quick develop sleep warm free minute strong special
    mind behind clear tail produce fact street inch lot nothing course stay wheel full force blue object
    decide surface deep moon island foot yet busy test record boat common gold possible plane age dry
    wonder laugh thousand ago ran check game shape yes hot miss brought heat snow bed bring sit perhaps fill
    east weight language among"""
COMMON_WORDS = tuple(_COMMON.split())


def bank_root() -> Path:
    """Where banks, real-speech embeddings and calibration streams are kept: $DLCLI_CACHE or ~/.cache/dlcli."""
    root = os.environ.get("DLCLI_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dlcli"
    )
    return Path(root) / "kws-negative-bank"


def utterance(rng: np.random.Generator, dictionary: tuple[str, ...]) -> str:
    """One keyword-agnostic utterance of 3-15 words: common words between dictionary words."""
    words = []
    for _ in range(int(rng.integers(3, 16))):
        pool = COMMON_WORDS if rng.random() < 0.6 or not dictionary else dictionary
        words.append(str(pool[int(rng.integers(len(pool)))]))
    return " ".join(words)


def contains_phrase(text: str, phrase: str) -> bool:
    """Whether the words of ``phrase`` occur in ``text`` one after another (case and punctuation ignored)."""
    clean = lambda s: " ".join("".join(c if c.isalpha() else " " for c in s.lower()).split())  # noqa: E731
    return f" {clean(phrase)} " in f" {clean(text)} "


def _through_channel(speech: np.ndarray, voice, rng: np.random.Generator) -> np.ndarray:
    """The voice's room and microphone (as ``synth.record``, without cutting a clip)."""
    from scipy import signal

    from dlcli.kws.synth import _channel_filters, room_impulse_response

    if voice.rt60_s > 0:
        response = room_impulse_response(voice.rt60_s, voice.direct_to_reverb_db, rng)
        speech = signal.fftconvolve(speech, response)[: len(speech) + len(response) // 4]
    peaks = tuple(tuple(p) for p in voice.peaks)
    return signal.sosfilt(_channel_filters(voice.highpass_hz, voice.lowpass_hz, peaks), speech)


def speech_audio(
    voices: list, seconds: float, rng: np.random.Generator, *, noise: list[np.ndarray] | None = None
) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
    """``seconds`` of conversation-like speech: utterances by random ``voices``, pauses, a noise floor.

    Returns the audio (float32, 16 kHz) and its utterances as (first sample, end sample, text).
    """
    from dlcli.kws import noise as noises
    from dlcli.kws.keywords import general_words
    from dlcli.kws.synth import _trim, speak

    dictionary = general_words()
    total = int(seconds * SAMPLE_RATE)
    audio = np.zeros(total, np.float64)
    segments = []
    position = int(rng.uniform(0, 0.5) * SAMPLE_RATE)
    while position < total:
        voice = voices[int(rng.integers(len(voices)))]
        text = utterance(rng, dictionary)
        speech = _through_channel(_trim(speak(voice, text)), voice, rng)
        speech *= 10 ** (rng.uniform(-30, -3) / 20) / (np.abs(speech).max() + 1e-9)
        end = min(total, position + len(speech))
        audio[position:end] += speech[: end - position]
        segments.append((position, end, text))
        pause = rng.uniform(2, 6) if rng.random() < 0.05 else rng.uniform(0.1, 1.2)
        position = end + int(pause * SAMPLE_RATE)
    floor = noises.coloured(total, rng.uniform(0, 2), rng) * 10 ** (rng.uniform(-65, -40) / 20)
    audio += floor
    if noise and rng.random() < 0.5:  # a noise bed under part of the speech
        source = noise[int(rng.integers(len(noise)))]
        bed = np.resize(source, total) / (np.sqrt(np.mean(source**2)) + 1e-12)
        speech_rms = np.sqrt(np.mean(audio**2)) + 1e-12
        audio += bed * speech_rms * 10 ** (-rng.uniform(5, 25) / 20)
    peak = np.abs(audio).max()
    if peak > 0.99:
        audio *= 0.99 / peak
    return audio.astype(np.float32), segments


# ----------------------------------------------------------------------------- the bank


@dataclass
class BankConfig:
    hours: float = 1.0  # generated speech
    voices: int = 300  # its synthetic speakers (drawn apart from any corpus's voices)
    seed: int = 0
    flite_share: float = 0.5
    chunk_seconds: float = 300.0  # one cached file per chunk: an interrupted build resumes

    def __post_init__(self) -> None:
        if self.hours <= 0 or self.voices < 1 or self.chunk_seconds < 10:
            raise ValueError("the bank needs positive hours, at least one voice and chunks of 10 s or more")

    def key(self) -> str:
        return hashlib.sha1(json.dumps([BANK_VERSION, asdict(self)], sort_keys=True).encode()).hexdigest()[:16]

    def chunks(self) -> int:
        return max(1, int(np.ceil(self.hours * 3600 / self.chunk_seconds)))


@dataclass
class NegativeBank:
    """Stream embeddings of keyword-free speech: (n, 96), chunk by chunk, with the utterances' texts."""

    embeddings: np.ndarray  # (n, 96) float32, the chunks one after another
    bounds: np.ndarray  # (chunks + 1,) first embedding of each chunk, then n
    segments: list[tuple[int, int, int, str]]  # (chunk, first sample, end sample, text); none for real speech
    hours: float

    def window_starts(self, frames: int, exclude: list[str] = ()) -> np.ndarray:
        """First embeddings of every window of ``frames`` inside one chunk and away from ``exclude`` phrases."""
        from dlcli.kws.embedding import EMBEDDING_STEP, WINDOW_FRAMES
        from dlcli.kws.embedding import MEL_HOP as HOP

        bad = np.zeros(len(self.embeddings), bool)
        span = WINDOW_FRAMES * HOP  # samples one embedding sees
        for chunk, first, end, text in self.segments:
            if any(contains_phrase(text, phrase) for phrase in exclude):
                low = max(0, (first - span) // EMBEDDING_STEP + 1)
                high = end // EMBEDDING_STEP + 1
                offset = self.bounds[chunk]
                bad[offset + low : min(offset + high, self.bounds[chunk + 1])] = True
        starts = []
        for chunk in range(len(self.bounds) - 1):
            first, end = int(self.bounds[chunk]), int(self.bounds[chunk + 1])
            if end - first >= frames:
                candidates = np.arange(first, end - frames + 1)
                blocked = np.convolve(bad[first:end].astype(int), np.ones(frames, int), mode="valid") > 0
                starts.append(candidates[~blocked])
        return np.concatenate(starts) if starts else np.zeros(0, int)

    def windows(self, starts: np.ndarray, frames: int) -> np.ndarray:
        """(len(starts), frames, 96) windows of the bank."""
        return self.embeddings[np.asarray(starts)[:, None] + np.arange(frames)[None, :]]


def _bank_voices(config: BankConfig):
    from dlcli.kws.synth import SynthConfig, draw_voices

    # a seed no corpus uses (corpora draw theirs from [seed, 7]), so the bank's speakers are its own
    synth = SynthConfig(
        voices=config.voices, seed=1_000_003 + config.seed, flite_share=config.flite_share, words=["yes"]
    )
    return draw_voices(synth)


def _save_npz(path: Path, **arrays) -> None:
    from dlcli.files import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.savez(handle, **arrays)


def build_bank(
    root: str | Path | None, config: BankConfig, *, speech: list[str | Path] = (), quiet: bool = False, echo=None
) -> NegativeBank:
    """The bank in ``root`` (default: ``bank_root()``): generated chunks made once and cached, plus real speech."""
    from dlcli.console import progress
    from dlcli.kws import noise as noises
    from dlcli.kws.embedding import speech_embedding

    folder = Path(root or bank_root()) / f"synthetic-{config.key()}"
    paths = [folder / f"chunk-{index:04d}.npz" for index in range(config.chunks())]
    missing = [p for p in paths if not p.is_file()]
    if missing and echo:
        echo(f"      negative bank: generating {len(missing)} of {len(paths)} chunks of speech -> {folder}")
    if missing:
        voices = _bank_voices(config)
        rate = 16000
        noise = [
            noises.coloured(rate * 20, e, np.random.default_rng([config.seed, 5, i])) for i, e in enumerate((0, 1, 2))
        ]
        with progress(disable=quiet) as bar:
            task = bar.add_task("negative speech", total=len(paths), info=f"{config.voices} voices")
            bar.advance(task, len(paths) - len(missing))
            for path in missing:
                index = paths.index(path)
                rng = np.random.default_rng([config.seed, 31, index])
                seconds = min(config.chunk_seconds, config.hours * 3600 - index * config.chunk_seconds)
                audio, segments = speech_audio(voices, max(seconds, 10.0), rng, noise=noise)
                embeddings = speech_embedding().stream(audio).astype(np.float32)
                _save_npz(
                    path, embeddings=embeddings, seconds=np.float64(len(audio) / SAMPLE_RATE),
                    starts=np.array([s[0] for s in segments], np.int64), ends=np.array([s[1] for s in segments], np.int64),
                    texts=np.array([s[2] for s in segments]),
                )  # fmt: skip
                bar.advance(task)
    parts, segments, seconds = [], [], 0.0
    for chunk, path in enumerate(paths):
        with np.load(path) as data:
            parts.append(data["embeddings"])
            seconds += float(data["seconds"])
            segments += [
                (chunk, int(a), int(b), str(t)) for a, b, t in zip(data["starts"], data["ends"], data["texts"])
            ]
    for path in _speech_files(speech):
        embeddings, length = real_speech_embeddings(path, Path(root or bank_root()) / "speech")
        if len(embeddings):
            parts.append(embeddings)
            seconds += length
    bounds = np.cumsum([0] + [len(p) for p in parts])
    return NegativeBank(np.concatenate(parts), bounds, segments, seconds / 3600)


def _speech_files(folders) -> list[Path]:
    from dlcli.audio import list_audio_files

    files: list[Path] = []
    for folder in folders:
        files += list_audio_files(folder)
    return files


def real_speech_embeddings(path: Path, cache: Path) -> tuple[np.ndarray, float]:
    """Stream embeddings of one recording, cached by its name, size, time and the front end's release."""
    from dlcli.audio import load_audio
    from dlcli.errors import AudioError
    from dlcli.kws.embedding import speech_embedding

    front_end = speech_embedding()
    stat = path.stat()
    digest = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{front_end.fingerprint}".encode())
    target = cache / f"{digest.hexdigest()[:20]}.npz"
    if target.is_file():
        with np.load(target) as data:
            return data["embeddings"], float(data["seconds"])
    try:
        audio, _ = load_audio(path, SAMPLE_RATE)
    except AudioError as error:
        log.warning(f"skipped {path}: {error.message}")
        return np.zeros((0, 96), np.float32), 0.0
    embeddings = front_end.stream(audio).astype(np.float32)
    _save_npz(target, embeddings=embeddings, seconds=np.float64(len(audio) / SAMPLE_RATE))
    return embeddings, len(audio) / SAMPLE_RATE


# ----------------------------------------------------------------------------- calibration and test streams


def speech_stream(corpus_config, split: str, seconds: float, *, text_seed: int, root: str | Path | None = None) -> Path:
    """A long keyword-free recording by the corpus's ``split`` voices (cached wav): for calibration and testing.

    It depends on the voices (the corpus's seed, voice count and flite share), not on the keywords, so
    every keyword trained on the same voices shares it; its texts are written beside it (``stream_texts``)
    so a caller can check that none holds its keyword.
    """
    from dlcli.audio import save_audio
    from dlcli.files import write_text_atomic
    from dlcli.kws.synth import SynthConfig, draw_voices

    synth = SynthConfig(
        voices=corpus_config.voices, seed=corpus_config.seed, flite_share=corpus_config.flite_share, words=["yes"]
    )
    key = hashlib.sha1(json.dumps([BANK_VERSION, asdict(synth), split, seconds, text_seed]).encode()).hexdigest()[:12]
    path = Path(root or bank_root()) / "streams" / f"{split}-{int(seconds)}s-{key}.wav"
    if path.is_file():
        return path
    voices = [v for v in draw_voices(synth) if v.split == split]
    rng = np.random.default_rng([text_seed, 41, len(split)])
    pieces, texts, done = [], [], 0.0
    while done < seconds:  # five-minute pieces bound the memory of the float64 mix
        piece, segments = speech_audio(voices, min(300.0, seconds - done), rng)
        pieces.append(piece)
        texts += [text for _, _, text in segments]
        done += len(piece) / SAMPLE_RATE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path.with_suffix(".txt"), "".join(f"{t}\n" for t in texts))
    save_audio(path, np.concatenate(pieces), SAMPLE_RATE)
    return path


def stream_texts(path: Path) -> list[str]:
    """The utterances of a generated stream (written beside it)."""
    side = Path(path).with_suffix(".txt")
    return side.read_text(encoding="utf-8").splitlines() if side.is_file() else []


# ----------------------------------------------------------------------------- training on the bank


@dataclass
class BankNegatives:
    """Windows of a bank that join a head's training as ``_unknown_`` examples."""

    embeddings: np.ndarray  # (n, 96) the bank
    train_starts: np.ndarray  # first embedding of every training window
    validation_starts: np.ndarray  # a few held-out windows (whole chunks kept apart), for picking the epoch
    weight: float = 5.0  # loss weight of a bank window (ramped up from 1 over the first third of training)
    hard_starts: np.ndarray | None = None  # windows a first round scored high, repeated ``hard_repeats`` times
    hard_repeats: int = 4


def shifted_copies(clips: np.ndarray, copies: int, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """``copies`` versions of every clip (n, samples) moved by up to ``max_shift`` samples, zero filled."""
    out = np.zeros((copies, *clips.shape), clips.dtype)
    for copy in range(copies):
        for index, shift in enumerate(rng.integers(-max_shift, max_shift + 1, len(clips))):
            if shift >= 0:
                out[copy, index, shift:] = clips[index, : clips.shape[1] - shift]
            else:
                out[copy, index, :shift] = clips[index, -shift:]
    return out.reshape(-1, clips.shape[1])


def bank_negatives(bank: NegativeBank, frames: int, keywords: list[str], weight: float) -> BankNegatives:
    """The bank's windows of ``frames`` embeddings away from ``keywords``; every tenth chunk validates."""
    starts = bank.window_starts(frames, exclude=keywords)
    chunk = np.searchsorted(bank.bounds, starts, side="right") - 1
    held_out = (chunk % 10 == 9) if len(bank.bounds) > 10 else np.zeros(len(starts), bool)
    return BankNegatives(bank.embeddings, starts[~held_out], starts[held_out][::frames], weight)


class BankMixDataset:
    """Clips' embeddings (repeated) and bank windows in one indexable set: (embeddings, target, loss weight).

    Index i < repeats x clips is clip i mod clips (weight 1); above that, bank windows (weight
    ``weight``, target ``label``), then the hard windows ``hard_repeats`` times. The repeats keep the
    clips about half of an epoch however large the bank.
    """

    def __init__(self, clips, targets, negatives: BankNegatives, frames: int, label: int, repeats: int | None = None):
        import torch

        self.clips, self.targets = clips, targets
        self.bank = torch.from_numpy(np.ascontiguousarray(negatives.embeddings, dtype=np.float32))
        starts = [negatives.train_starts]
        if negatives.hard_starts is not None and len(negatives.hard_starts):
            starts += [negatives.hard_starts] * negatives.hard_repeats
        self.starts = torch.from_numpy(np.concatenate(starts).astype(np.int64))
        self.repeats = repeats or max(1, int(round(len(self.starts) / max(1, len(clips)))))
        self.frames, self.label, self.weight = frames, label, float(negatives.weight)
        self.offsets = torch.arange(frames)

    def __len__(self) -> int:
        return len(self.clips) * self.repeats + len(self.starts)

    def __getitems__(self, indices):
        import torch

        index = torch.as_tensor(indices, dtype=torch.long)
        boundary = len(self.clips) * self.repeats
        clip = index < boundary
        inputs = torch.empty((len(index), self.frames, self.bank.shape[1]))
        targets = torch.full((len(index),), self.label, dtype=torch.long)
        weights = torch.full((len(index),), self.weight)
        chosen = index[clip] % len(self.clips)
        inputs[clip] = self.clips.index_select(0, chosen).float()
        targets[clip] = self.targets.index_select(0, chosen)
        weights[clip] = 1.0
        first = self.starts[index[~clip] - boundary]
        inputs[~clip] = self.bank[first[:, None] + self.offsets[None, :]]
        return inputs, targets, weights

    def __getitem__(self, index: int):
        inputs, targets, weights = self.__getitems__([index])
        return inputs[0], targets[0], weights[0]

    @staticmethod
    def collate(batch):
        return batch


def score_windows(model, negatives: BankNegatives, starts: np.ndarray, keyword_indices: list[int], frames: int):
    """The highest keyword probability of the head on each bank window (for mining hard negatives)."""
    import torch

    bank = torch.from_numpy(np.ascontiguousarray(negatives.embeddings, dtype=np.float32))
    scores = []
    model.eval()
    with torch.no_grad():
        for first in range(0, len(starts), 4096):
            chunk = torch.from_numpy(np.asarray(starts[first : first + 4096], np.int64))
            windows = bank[chunk[:, None] + torch.arange(frames)[None, :]]
            probabilities = torch.softmax(model.head(windows).float(), -1)
            scores.append(probabilities[:, keyword_indices].max(-1).values.numpy())
    return np.concatenate(scores) if scores else np.zeros(0)
