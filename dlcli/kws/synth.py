"""A Speech Commands-layout corpus spoken by synthetic voices (espeak-ng and flite).

Each *voice* is one synthetic speaker: an engine voice (espeak-ng accent x variant, or a
flite voice) with its own pitch and speed, and its own "recording set-up": a room
(synthetic reverberation), a colour (microphone/channel filters), a level and a noise
floor, as each person of the real corpus recorded with their own device. Every take adds
its own prosody (statement, question, exclamation), small pitch/speed jitter, placement
inside the second and background noise from a noise pool.

Speaker ids are random hex strings drawn so that the official hash rule
(``data.split_of``) puts the wanted share of voices in each split: the splits are
speaker-disjoint, reproducible from the file names alone, and the list files written
beside the clips agree with the rule. ``_background_noise_`` gets generated noise
(white, pink, brown, hum, fan, babble of keyword-free speech).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from dlcli.audio import list_audio_files, load_audio, resample, save_audio
from dlcli.errors import InputError, UsageError
from dlcli.files import write_text_atomic
from dlcli.kws import noise as noises
from dlcli.kws.data import BACKGROUND_FOLDER, CLIP_SAMPLES, SAMPLE_RATE, WORDS, split_of

log = logging.getLogger("dlcli.kws")

ESPEAK_ACCENTS = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-rp",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
# variants that do not sound like a person at all
ESPEAK_EXCLUDED = {"Demonic", "UniRobot", "anikaRobot", "announcer", "fast", "Tweaky"}
FLITE_VOICES = ("awb", "kal", "kal16", "rms", "slt")
# median f0 of each flite voice (pyin); rms ignores int_f0_target_mean and is shifted afterwards
FLITE_F0 = {"awb": 130.0, "kal": 95.0, "kal16": 95.0, "rms": 100.0, "slt": 172.0}
PROSODY = (".", ".", "!", "?", "")


@dataclass
class SynthConfig:
    voices: int = 200  # synthetic speakers
    words: list[str] = field(default_factory=lambda: list(WORDS))  # vocabulary (default: the 35 words)
    takes: int = 1  # clips per word and voice
    seed: int = 0
    flite_share: float = 0.4  # share of voices from flite (closer to human speech than espeak-ng)
    validation_percent: float = 10.0  # of the voices, through the hash rule
    testing_percent: float = 10.0
    format: str = "wav"  # wav | flac
    noise_seconds: float = 60.0  # length of each generated background-noise file
    noise_folder: str | None = None  # extra real noise mixed into clips (e.g. Speech Commands' noise)
    background_probability: float = 0.5  # takes that get audible background noise
    background_snr_db: list[float] = field(default_factory=lambda: [5.0, 30.0])
    reverb_probability: float = 0.7  # voices recorded in a reverberant room
    workers: int = 0  # processes (0: one per CPU)

    def __post_init__(self) -> None:
        if self.voices < 1 or self.takes < 1:
            raise ValueError("voices and takes must be at least 1")
        unknown = sorted(set(self.words) - set(WORDS))
        if not self.words or any(not w.isalpha() or not w.islower() for w in self.words):
            raise ValueError("words must be lower-case alphabetic words")
        if unknown:
            log.debug(f"words outside the Speech Commands vocabulary: {unknown}")
        if self.format not in ("wav", "flac"):
            raise ValueError(f"format must be wav or flac, not {self.format!r}")
        if not 0 <= self.flite_share <= 1:
            raise ValueError("flite_share must be in [0, 1]")


@dataclass
class Voice:
    """One synthetic speaker and their recording set-up."""

    speaker: str  # hex id; the hash rule maps it to a split
    split: str
    engine: str  # espeak-ng | flite
    voice: str  # espeak-ng "accent+variant" or flite voice name
    pitch: float  # espeak-ng -p (0-99), or flite f0 in Hz
    speed: float  # espeak-ng words per minute, or flite duration stretch (>1 slower)
    highpass_hz: float
    lowpass_hz: float
    peaks: list[list[float]]  # [frequency Hz, gain dB, Q] peaking filters (room and microphone colour)
    rt60_s: float  # reverberation time (0: dry)
    direct_to_reverb_db: float
    peak_dbfs: float  # typical clip level
    floor_snr_db: float  # microphone/room noise floor under the speech


# ----------------------------------------------------------------------------- engines


@functools.cache
def espeak_variants() -> tuple[str, ...]:
    if shutil.which("espeak-ng") is None:
        return ()
    listing = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True).stdout
    names = []
    for line in listing.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5 and parts[4].startswith("!v/") and len(parts[4]) > 3:
            name = parts[4][3:]
            if name not in ESPEAK_EXCLUDED and not name.startswith("robosoft") and name.isidentifier():
                names.append(name)
    return tuple(sorted(set(names)))


@functools.cache
def flite_voices() -> tuple[str, ...]:
    if shutil.which("flite") is None:
        return ()
    listing = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout
    available = set(listing.replace("Voices available:", "").split())
    return tuple(v for v in FLITE_VOICES if v in available)


def _decode_wav(data: bytes, what: str) -> tuple[np.ndarray, int]:
    import soundfile

    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    except Exception as error:  # noqa: BLE001 - any decoding failure is the engine's
        raise InputError(f"{what} produced no readable audio ({error})") from None
    if samples.ndim > 1:
        samples = samples.mean(axis=1)
    return samples, rate


def speak(voice: Voice, text: str, *, pitch: float | None = None, speed: float | None = None) -> np.ndarray:
    """``text`` spoken by ``voice`` as float32 at 16 kHz (before any channel effect)."""
    pitch = voice.pitch if pitch is None else pitch
    speed = voice.speed if speed is None else speed
    if voice.engine == "espeak-ng":
        command = ["espeak-ng", "-v", voice.voice, "-p", str(int(np.clip(pitch, 0, 99))), "-s", str(int(speed))]
        result = subprocess.run([*command, "--stdout", text], capture_output=True, timeout=60)
        samples, rate = _decode_wav(result.stdout, f"espeak-ng {voice.voice}")
    else:
        controllable = voice.voice != "rms"
        with tempfile.NamedTemporaryFile(suffix=".wav") as handle:
            command = ["flite", "-voice", voice.voice, "--setf", f"duration_stretch={speed:.3f}"]
            if controllable:
                command += ["--setf", f"int_f0_target_mean={pitch:.1f}"]
            subprocess.run([*command, "-t", text, "-o", handle.name], capture_output=True, timeout=60, check=False)
            samples, rate = _decode_wav(Path(handle.name).read_bytes(), f"flite {voice.voice}")
        if not controllable:
            import librosa

            steps = 12 * np.log2(pitch / FLITE_F0[voice.voice])
            samples = librosa.effects.pitch_shift(samples, sr=rate, n_steps=float(steps))
    return resample(samples.astype(np.float32), rate, SAMPLE_RATE)


# ----------------------------------------------------------------------------- voices


def _speaker_ids(count: int, rng: np.random.Generator, validation: float, testing: float) -> list[tuple[str, str]]:
    """Random hex ids whose hash-rule splits follow the wanted shares exactly (largest remainder)."""
    shares = {"validation": validation / 100, "testing": testing / 100}
    shares["training"] = 1 - sum(shares.values())
    given = dict.fromkeys(shares, 0)
    ids = []
    for index in range(count):
        target = max(shares, key=lambda s: shares[s] * (index + 1) - given[s])
        given[target] += 1
        while True:
            speaker = f"{int(rng.integers(0, 2**32)):08x}"
            if split_of(speaker, validation, testing) == target:
                break
        ids.append((speaker, target))
    order = rng.permutation(count)  # do not let the split follow the voice index
    return [ids[i] for i in order]


def draw_voices(config: SynthConfig) -> list[Voice]:
    """``config.voices`` distinct speakers, reproducible from ``config.seed``."""
    variants, flites = espeak_variants(), flite_voices()
    if not variants and not flites:
        raise UsageError("corpus generation needs espeak-ng or flite (apt-get install espeak-ng flite)")
    rng = np.random.default_rng([config.seed, 7])
    ids = _speaker_ids(config.voices, rng, config.validation_percent, config.testing_percent)
    voices = []
    for speaker, split in ids:
        use_flite = bool(flites) and (not variants or rng.random() < config.flite_share)
        if use_flite:
            name = str(rng.choice(flites))
            engine, pitch = "flite", FLITE_F0[name] * 2 ** (np.clip(rng.normal(0, 3.0), -7, 7) / 12)
            speed = float(np.exp(rng.uniform(np.log(0.8), np.log(1.35))))
        else:
            accent = str(rng.choice(ESPEAK_ACCENTS))
            variant = str(rng.choice(variants)) if rng.random() < 0.9 else ""
            name = f"{accent}+{variant}" if variant else accent
            engine, pitch, speed = "espeak-ng", float(rng.uniform(15, 85)), float(rng.uniform(110, 210))
        telephone = rng.random() < 0.1
        reverberant = rng.random() < config.reverb_probability
        voices.append(
            Voice(
                speaker=speaker,
                split=split,
                engine=engine,
                voice=name,
                pitch=round(float(pitch), 2),
                speed=round(float(speed), 3),
                highpass_hz=round(float(rng.uniform(250, 350) if telephone else np.exp(rng.uniform(3.7, 5.7))), 1),
                lowpass_hz=round(float(rng.uniform(3300, 3600) if telephone else rng.uniform(3800, 7900)), 1),
                peaks=[
                    [round(float(np.exp(rng.uniform(np.log(150), np.log(6000)))), 1), round(float(g), 2), 1.5]
                    for g in rng.uniform(-9, 9, size=int(rng.integers(1, 4)))
                ],
                rt60_s=round(float(rng.uniform(0.15, 0.9)), 3) if reverberant else 0.0,
                direct_to_reverb_db=round(float(rng.uniform(-2, 15)), 2),
                peak_dbfs=round(float(rng.uniform(-26, -2)), 2),
                floor_snr_db=round(float(rng.uniform(25, 60)), 2),
            )
        )
    return voices


# ----------------------------------------------------------------------------- channel


def _peaking_sos(frequency: float, gain_db: float, q: float, rate: int) -> np.ndarray:
    """RBJ audio-EQ-cookbook peaking biquad as one second-order section."""
    amplitude = 10 ** (gain_db / 40)
    omega = 2 * np.pi * min(frequency, rate * 0.45) / rate
    alpha = np.sin(omega) / (2 * q)
    b = [1 + alpha * amplitude, -2 * np.cos(omega), 1 - alpha * amplitude]
    a = [1 + alpha / amplitude, -2 * np.cos(omega), 1 - alpha / amplitude]
    return np.array([[*(np.array(b) / a[0]), 1.0, a[1] / a[0], a[2] / a[0]]])


@functools.lru_cache(maxsize=64)
def _channel_filters(highpass: float, lowpass: float, peaks: tuple) -> np.ndarray:
    from scipy import signal

    sections = [
        signal.butter(2, highpass, "highpass", fs=SAMPLE_RATE, output="sos"),
        signal.butter(4, min(lowpass, SAMPLE_RATE * 0.49), "lowpass", fs=SAMPLE_RATE, output="sos"),
    ]
    sections += [_peaking_sos(f, g, q, SAMPLE_RATE) for f, g, q in peaks]
    return np.concatenate(sections)


def room_impulse_response(rt60: float, direct_to_reverb_db: float, rng: np.random.Generator) -> np.ndarray:
    """Direct path, a few early reflections and an exponentially decaying diffuse tail (60 dB in rt60)."""
    length = int(rt60 * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    tail = rng.standard_normal(length) * np.exp(-6.9 * t / rt60)
    tail[: int(0.004 * SAMPLE_RATE)] = 0.0  # the diffuse field starts after the direct sound
    for _ in range(int(rng.integers(2, 6))):  # early reflections 2-25 ms
        tail[int(rng.uniform(0.002, 0.025) * SAMPLE_RATE)] += rng.uniform(0.2, 0.7) * rng.choice([-1, 1])
    tail *= 10 ** (-direct_to_reverb_db / 20) / max(np.sqrt(np.sum(tail**2)), 1e-9)
    tail[0] = 1.0
    return tail


def record(
    speech: np.ndarray, voice: Voice, rng: np.random.Generator, noise_pool: Sequence[np.ndarray], config
) -> np.ndarray:
    """Speech through the voice's room and microphone into a 1-second clip with noise."""
    from scipy import signal

    if voice.rt60_s > 0:
        response = room_impulse_response(voice.rt60_s, voice.direct_to_reverb_db, rng)
        speech = signal.fftconvolve(speech, response)[: len(speech) + len(response) // 4]
    peaks = tuple(tuple(p) for p in voice.peaks)
    speech = signal.sosfilt(_channel_filters(voice.highpass_hz, voice.lowpass_hz, peaks), speech)
    if len(speech) > CLIP_SAMPLES:  # keep the loud part
        energy = np.convolve(speech**2, np.ones(1600), mode="valid")
        start = int(np.argmax(np.convolve(energy, np.ones(CLIP_SAMPLES - 1599), mode="valid")))
        speech = speech[start : start + CLIP_SAMPLES]
    clip = np.zeros(CLIP_SAMPLES)
    free = CLIP_SAMPLES - len(speech)
    start = int(np.clip(free / 2 + rng.normal(0, free / 6 + 1), 0, free))
    clip[start : start + len(speech)] = speech
    speech_power = np.mean(speech**2) + 1e-12
    floor = noises.coloured(CLIP_SAMPLES, rng.uniform(0, 2), rng)
    clip += floor * np.sqrt(speech_power / 10 ** (voice.floor_snr_db / 10) / (np.mean(floor**2) + 1e-12))
    if noise_pool and rng.random() < config.background_probability:
        source = noise_pool[int(rng.integers(len(noise_pool)))]
        offset = int(rng.integers(0, max(1, len(source) - CLIP_SAMPLES)))
        piece = np.resize(source[offset : offset + CLIP_SAMPLES], CLIP_SAMPLES)
        snr = rng.uniform(*config.background_snr_db)
        clip += piece * np.sqrt(speech_power / 10 ** (snr / 10) / (np.mean(piece**2) + 1e-12))
    level = voice.peak_dbfs + rng.uniform(-3, 3)
    return (clip * 10 ** (level / 20) / (np.abs(clip).max() + 1e-9)).astype(np.float32)


def _trim(samples: np.ndarray) -> np.ndarray:
    import librosa

    trimmed, _ = librosa.effects.trim(samples, top_db=45, frame_length=512, hop_length=128)
    return trimmed if len(trimmed) else samples


def take(voice: Voice, word: str, rng: np.random.Generator, noise_pool, config) -> np.ndarray:
    """One recording of ``word``: per-take prosody and jitter; re-spoken faster if it overruns 1 s."""
    espeak = voice.engine == "espeak-ng"
    # espeak-ng speed is words per minute (faster: larger), flite's a duration stretch (faster: smaller)
    faster = (lambda speed, factor: speed * factor) if espeak else (lambda speed, factor: speed / factor)
    pitch = voice.pitch + (rng.normal(0, 4.0) if espeak else voice.pitch * rng.normal(0, 0.04))
    speed = faster(voice.speed, 1 + rng.normal(0, 0.06))
    text = word + str(rng.choice(PROSODY))
    for _ in range(3):
        speech = _trim(speak(voice, text, pitch=pitch, speed=speed))
        if len(speech) <= 0.95 * CLIP_SAMPLES:
            break
        speed = faster(speed, len(speech) / (0.9 * CLIP_SAMPLES))
    return record(speech, voice, rng, noise_pool, config)


# ----------------------------------------------------------------------------- corpus


def _clip_name(voice: Voice, word: str, take_index: int, fmt: str) -> str:
    return f"{word}/{voice.speaker}_nohash_{take_index}.{fmt}"


@functools.cache
def _noise_pool(folders: tuple[str, ...]) -> list[np.ndarray]:
    pool = []
    for folder in folders:
        for path in list_audio_files(folder):
            samples, _ = load_audio(path, SAMPLE_RATE)
            if len(samples) >= SAMPLE_RATE // 4:
                pool.append(samples)
    return pool


def _speak_voice(job: tuple) -> list[str]:
    """Worker: every word and take of one voice (files that exist are kept, so a rerun resumes)."""
    out, voice, config, index, noise_folders = job
    pool = _noise_pool(noise_folders)
    written = []
    for word in config.words:
        for take_index in range(config.takes):
            name = _clip_name(voice, word, take_index, config.format)
            take_rng = np.random.default_rng(
                [config.seed, 13, index, int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)]
            )
            destination = Path(out) / name
            if not destination.exists():
                save_audio(destination, take(voice, word, take_rng, pool, config), SAMPLE_RATE)
            written.append(name)
    return written


def generate_corpus(out: str | Path, config: SynthConfig, *, quiet: bool = False) -> dict:
    """Write the corpus into ``out``; return a summary (clips and voices per split)."""
    import os

    from dlcli.console import progress

    out = Path(out)
    voices = draw_voices(config)
    noise_dir = out / BACKGROUND_FOLDER
    noises.write_noise_files(noise_dir, config.noise_seconds, config.seed, fmt=config.format)
    folders = [str(noise_dir)]
    if config.noise_folder:
        if not Path(config.noise_folder).is_dir():
            raise InputError("no such noise folder", path=config.noise_folder)
        folders.append(str(config.noise_folder))
    workers = config.workers or os.cpu_count() or 1
    jobs = [(str(out), voice, config, index, tuple(folders)) for index, voice in enumerate(voices)]
    names: dict[str, list[str]] = {}
    with progress(disable=quiet) as bar:
        task = bar.add_task("speaking", total=len(jobs), info=f"{len(voices)} voices x {len(config.words)} words")
        if workers == 1:
            results = map(_speak_voice, jobs)
        else:
            executor = ProcessPoolExecutor(max_workers=workers)
            results = executor.map(_speak_voice, jobs)
        for voice, written in zip(voices, results):
            names[voice.speaker] = written
            bar.advance(task)
        if workers != 1:
            executor.shutdown()
    by_split = {"validation": [], "testing": []}
    for voice in voices:
        if voice.split in by_split:
            by_split[voice.split] += names[voice.speaker]
    write_text_atomic(out / "validation_list.txt", "".join(f"{n}\n" for n in sorted(by_split["validation"])))
    write_text_atomic(out / "testing_list.txt", "".join(f"{n}\n" for n in sorted(by_split["testing"])))
    _write_voices(out / "voices.csv", voices)
    summary = {
        "clips": sum(len(v) for v in names.values()),
        "voices": {s: sum(v.split == s for v in voices) for s in ("training", "validation", "testing")},
        "engines": {e: sum(v.engine == e for v in voices) for e in ("espeak-ng", "flite")},
        "words": len(config.words),
        "config": asdict(config),
    }
    write_text_atomic(out / "corpus.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _write_voices(path: Path, voices: list[Voice]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(asdict(voices[0])))
    writer.writeheader()
    for voice in voices:
        row = asdict(voice)
        row["peaks"] = json.dumps(row["peaks"])
        writer.writerow(row)
    write_text_atomic(path, buffer.getvalue())
