"""Multi-speaker corpora: a generator from offline voices, and the reader of the layout it writes.

Layout (LJSpeech/VCTK style): ``metadata.csv`` with lines ``wav|speaker|text`` (paths
relative to the corpus folder), or ``wav|speaker|text|alignment`` where flite spoke the
utterance (``pau:14 dh:9 ...``: flite's phones and their frames at the mel hop, see
``align.py``; ``corpus.json`` records the hop), audio under ``wavs/<speaker>/``, and, for generated
corpora, ``speakers.json`` with each voice's recipe so the same voices can read new
sentences later (the intelligibility reference of ``tts evaluate``). LJSpeech's own
two/three-column ``id|text[|normalised]`` metadata is read too, as one speaker.

Voices: flite's recorded-speech voices (awb, rms, slt, kal16) warped in formants (sox
``pitch``: a vocal-tract-length change that moves f0 too), with f0 mean and range set
through flite (compensating the warp, so timbre and pitch vary independently; rms ignores
them) and stretched in duration, and
espeak-ng accents x variants x pitch x speed. Speaker encoders hear espeak-ng variants
as a handful of timbres and ASR hardly understands them; flite voices are both distinct
and intelligible, so they are the default share of a corpus.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dlcli.errors import InputError, UsageError
from dlcli.files import write_text_atomic

log = logging.getLogger("dlcli.tts")

FLITE_VOICES = ("rms", "slt", "awb", "kal16")
FLITE_SHIFTS = (0, -150, 150, -300, 300)  # sox pitch shift, cents
FLITE_STRETCH = (1.0, 1.1, 0.92)
FLITE_F0 = {"slt": (0.0, 150.0, 215.0), "awb": (0.0, 95.0, 145.0), "kal16": (0.0, 95.0, 145.0)}  # target f0 mean, Hz
FLITE_F0_STD = (0.0, 30.0)  # target f0 standard deviation (0: the voice's own)
ESPEAK_ACCENTS = (
    "en-us",
    "en",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-029",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-us-nyc",
)
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "klatt3")
ESPEAK_PITCH = (35, 50, 65)
ESPEAK_SPEED = (150, 170)
TARGET_RMS = 0.06  # loudness every utterance is scaled to (about -24 dBFS)


@dataclass(frozen=True)
class Voice:
    """How to make one speaker: an engine, its voice, and the modifications applied."""

    engine: str  # flite | espeak-ng
    voice: str  # flite voice name, or espeak-ng accent+variant
    pitch: int = 0  # flite: sox pitch shift in cents; espeak-ng: -p (0-99)
    speed: float = 1.0  # flite: duration stretch (>1 slower); espeak-ng: -s words per minute
    f0_mean: float = 0.0  # flite: f0 after the warp, Hz (0: the voice's own)
    f0_std: float = 0.0  # flite: f0 standard deviation, Hz (0: the voice's own)

    @property
    def name(self) -> str:
        if self.engine == "flite":
            name = f"flite-{self.voice}-p{self.pitch:+d}-d{self.speed:g}"
            name += f"-f{self.f0_mean:g}" if self.f0_mean else ""
            return name + (f"-r{self.f0_std:g}" if self.f0_std else "")
        return f"espeak-{self.voice}-p{self.pitch}-s{int(self.speed)}"

    @classmethod
    def from_dict(cls, values: dict) -> Voice:
        return cls(
            str(values["engine"]),
            str(values["voice"]),
            int(values["pitch"]),
            float(values["speed"]),
            float(values.get("f0_mean") or 0.0),
            float(values.get("f0_std") or 0.0),
        )

    def flite_settings(self) -> list[str]:
        settings = [f"duration_stretch={self.speed}"] if self.speed != 1.0 else []
        if self.f0_mean:  # the sox warp multiplies f0 by 2^(cents/1200): ask flite for the pre-warp value
            settings.append(f"int_f0_target_mean={self.f0_mean * 2 ** (-self.pitch / 1200):.1f}")
        if self.f0_std:
            settings.append(f"int_f0_target_stddev={self.f0_std * 2 ** (-self.pitch / 1200):.1f}")
        return settings


def available_engines() -> list[str]:
    return [engine for engine in ("flite", "espeak-ng") if shutil.which(engine)]


def all_voices(engine: str) -> list[Voice]:
    if engine == "flite":
        return [
            Voice("flite", v, p, s, f0, std if f0 else 0.0)
            for v in FLITE_VOICES
            for p in FLITE_SHIFTS
            for s in FLITE_STRETCH
            for f0 in FLITE_F0.get(v, (0.0,))
            for std in (FLITE_F0_STD if f0 else (0.0,))
        ]
    return [
        Voice("espeak-ng", f"{a}+{v}", p, s)
        for a in ESPEAK_ACCENTS
        for v in ESPEAK_VARIANTS
        for p in ESPEAK_PITCH
        for s in ESPEAK_SPEED
    ]


def choose_voices(count: int, flite_share: float = 0.6, seed: int = 0) -> list[Voice]:
    """``count`` voices, about ``flite_share`` of them flite's; the unmodified flite voices come first."""
    engines = available_engines()
    if not engines:
        raise UsageError("neither flite nor espeak-ng is installed: cannot generate a corpus")
    rng = random.Random(seed)
    flite = all_voices("flite") if "flite" in engines else []
    espeak = all_voices("espeak-ng") if "espeak-ng" in engines else []
    plain = [v for v in flite if v.pitch == 0 and v.speed == 1.0 and not v.f0_mean]
    rest = [v for v in flite if v not in plain]
    rng.shuffle(rest)
    rng.shuffle(espeak)
    want_flite = min(len(flite), round(count * flite_share) if espeak else count)
    chosen = (plain + rest)[:want_flite]
    chosen += espeak[: count - len(chosen)]
    if len(chosen) < count:
        raise UsageError(f"only {len(chosen)} distinct voices can be made with {', '.join(engines)}; asked for {count}")
    return chosen


def render(voice: Voice, text: str, sample_rate: int = 16000) -> np.ndarray:
    """Speak ``text`` (already normalised words) with ``voice``: loudness-normalised float32."""
    return render_aligned(voice, text, sample_rate)[0]


def render_aligned(
    voice: Voice, text: str, sample_rate: int = 16000, hop_length: int = 200
) -> tuple[np.ndarray, list[str] | None, list[int] | None]:
    """(audio, flite's phones, their frames at ``hop_length``); no alignment for espeak-ng voices.

    flite's audio is kept whole (its leading and trailing pauses are phones of the alignment);
    espeak-ng's is trimmed and padded with 50 ms of silence."""
    import librosa

    from dlcli.audio import load_audio
    from dlcli.tts.align import flite_command, frame_durations, parse_psdur

    phones = durations = None
    with tempfile.TemporaryDirectory(prefix="dlcli-tts-") as folder:
        raw, shifted = Path(folder) / "raw.wav", Path(folder) / "shifted.wav"
        if voice.engine == "flite":
            command = flite_command(voice.voice, text, str(raw), voice.flite_settings())
        else:
            command = ["espeak-ng", "-v", voice.voice, "-p", str(voice.pitch), "-s", str(int(voice.speed))]
            command += ["-w", str(raw), text]
        result = subprocess.run(command, check=True, capture_output=True, timeout=120, text=True)
        if voice.engine == "flite" and voice.pitch:
            subprocess.run(["sox", str(raw), str(shifted), "pitch", str(voice.pitch)], check=True, capture_output=True)
            raw = shifted
        samples, _ = load_audio(raw, sample_rate)
    if voice.engine == "flite":
        spoken = parse_psdur(result.stdout)
        frames = 1 + len(samples) // hop_length
        phones = [phone for phone, _ in spoken]
        durations = frame_durations([end for _, end in spoken], frames, sample_rate, hop_length)
    else:
        samples, _ = librosa.effects.trim(samples, top_db=40, frame_length=512, hop_length=128)
        pad = np.zeros(int(0.05 * sample_rate), np.float32)
        samples = np.concatenate([pad, samples, pad])
    rms = float(np.sqrt(np.mean(samples**2))) or 1.0
    return np.clip(samples * (TARGET_RMS / rms), -0.99, 0.99).astype(np.float32), phones, durations


@dataclass
class Utterance:
    audio: Path
    speaker: str
    text: str
    phones: list[str] | None = None  # flite's phones, where the corpus has alignments
    durations: list[int] | None = None  # frames per phone at the corpus's hop

    def line(self) -> str:
        if self.phones is None:
            return f"{self.audio}|{self.speaker}|{self.text}\n"
        from dlcli.tts.align import format_alignment

        return f"{self.audio}|{self.speaker}|{self.text}|{format_alignment(self.phones, self.durations)}\n"


def generate_corpus(
    out: Path,
    *,
    speakers: int = 12,
    utterances_per_speaker: int = 40,
    flite_share: float = 0.6,
    seed: int = 0,
    sample_rate: int = 16000,
    jobs: int = 2,
    voices: list[Voice] | None = None,
    audio_format: str = "wav",
    plain_utterances: int | None = None,
    hop_length: int = 200,
) -> list[Utterance]:
    """Write a corpus into ``out`` (see the module docstring) and return its utterances.

    ``plain_utterances``: sentences for each unmodified flite voice (default: as many as the
    others), e.g. more for the voice a shipped model speaks with by default."""
    from dlcli.audio import save_audio
    from dlcli.console import progress
    from dlcli.tts.align import spoken_text
    from dlcli.tts.sentences import SentenceGrammar
    from dlcli.tts.text import normalise

    out = Path(out)
    if (out / "metadata.csv").exists():
        raise UsageError(f"{out} already holds a corpus (metadata.csv); choose another --out")
    voices = voices or choose_voices(speakers, flite_share, seed)
    grammar = SentenceGrammar(seed)
    jobs_list = []
    for voice in voices:
        plain = voice.engine == "flite" and voice.pitch == 0 and voice.speed == 1.0 and not voice.f0_mean
        count = plain_utterances if plain and plain_utterances else utterances_per_speaker
        for index, text in enumerate(grammar.sentences(count)):
            path = Path("wavs") / voice.name / f"{voice.name}_{index:04d}.{audio_format}"
            jobs_list.append((voice, text, path))

    def make(job) -> Utterance:
        voice, text, path = job
        samples, phones, durations = render_aligned(voice, spoken_text(normalise(text).tokens), sample_rate, hop_length)
        save_audio(out / path, samples, sample_rate)
        return Utterance(path, voice.name, text, phones, durations)

    (out / "wavs").mkdir(parents=True, exist_ok=True)
    results: list[Utterance] = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool, progress() as bar:
        task = bar.add_task("rendering", total=len(jobs_list), info=f"{len(voices)} voices")
        for utterance in pool.map(make, jobs_list):
            results.append(utterance)
            bar.update(task, advance=1)
    write_text_atomic(out / "speakers.json", json.dumps({v.name: asdict(v) for v in voices}, indent=1))
    layout = {"sample_rate": sample_rate, "hop_length": hop_length, "phone_set": "flite"}
    write_text_atomic(out / "corpus.json", json.dumps(layout, indent=1))
    write_text_atomic(out / "metadata.csv", "".join(u.line() for u in results))
    return results


def read_layout(corpus: Path) -> dict:
    """The hop and sample rate that a corpus's alignments count frames in (defaults: 200 at 16 kHz)."""
    path = Path(corpus) / "corpus.json"
    layout = {"sample_rate": 16000, "hop_length": 200, "phone_set": "flite"}
    if path.is_file():
        try:
            layout.update(json.loads(path.read_text()))
        except (OSError, ValueError) as error:
            raise InputError(f"unreadable corpus description: {error}", path=path) from None
    return layout


def read_voices(corpus: Path) -> dict[str, Voice]:
    """The recipes of a generated corpus's voices (empty for a corpus of real recordings)."""
    path = Path(corpus) / "speakers.json"
    if not path.is_file():
        return {}
    return {name: Voice.from_dict(values) for name, values in json.loads(path.read_text()).items()}


def metadata_path(corpus: Path) -> Path:
    corpus = Path(corpus)
    if corpus.is_file():
        return corpus
    for name in ("metadata.csv", "metadata.txt", "metadata.tsv"):
        if (corpus / name).is_file():
            return corpus / name
    raise InputError("no metadata.csv (lines 'wav|speaker|text') in this folder", path=corpus)


def read_corpus(corpus: Path) -> tuple[list[Utterance], list[str]]:
    """Utterances of a corpus and one message per line skipped (missing audio, malformed line)."""
    from dlcli.tts.align import parse_alignment

    path = metadata_path(corpus)
    root = path.parent
    utterances, problems = [], []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read: {error}", path=path) from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split("|")]
        audio = root / fields[0]
        phones = durations = None
        if len(fields) == 4 and audio.suffix:  # wav|speaker|text|alignment
            speaker, text = fields[1], fields[2]
            try:
                phones, durations = parse_alignment(fields[3])
            except ValueError as error:
                problems.append(f"{path}:{number}: bad alignment ({error})")
                continue
        elif len(fields) == 3 and audio.suffix:  # wav|speaker|text
            speaker, text = fields[1], fields[2]
        elif len(fields) in (2, 3):  # LJSpeech: id|text[|normalised text]
            audio = root / "wavs" / f"{fields[0]}.wav"
            speaker, text = root.name, fields[-1]
        else:
            problems.append(f"{path}:{number}: expected 'wav|speaker|text', found {len(fields)} fields")
            continue
        if not text:
            problems.append(f"{path}:{number}: empty text")
        elif not audio.is_file():
            problems.append(f"{path}:{number}: no such audio file {audio}")
        else:
            utterances.append(Utterance(audio, speaker, text, phones, durations))
    if not utterances:
        raise InputError("no usable utterances (" + (problems[0] if problems else "empty file") + ")", path=path)
    return utterances, problems
