"""Multi-speaker corpora: a generator from offline voices, and the reader of the layout it writes.

Layout (LJSpeech/VCTK style): ``metadata.csv`` with lines ``wav|speaker|text`` (paths
relative to the corpus folder), audio under ``wavs/<speaker>/``, and, for generated
corpora, ``speakers.json`` with each voice's recipe so the same voices can read new
sentences later (the intelligibility reference of ``tts evaluate``). LJSpeech's own
two/three-column ``id|text[|normalised]`` metadata is read too, as one speaker.

Voices: flite's recorded-speech voices (awb, rms, slt, kal16) shifted in pitch and
formants (sox ``pitch``: a vocal-tract-length change) and stretched in duration, and
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

    @property
    def name(self) -> str:
        if self.engine == "flite":
            return f"flite-{self.voice}-p{self.pitch:+d}-d{self.speed:g}"
        return f"espeak-{self.voice}-p{self.pitch}-s{int(self.speed)}"

    @classmethod
    def from_dict(cls, values: dict) -> Voice:
        return cls(str(values["engine"]), str(values["voice"]), int(values["pitch"]), float(values["speed"]))


def available_engines() -> list[str]:
    return [engine for engine in ("flite", "espeak-ng") if shutil.which(engine)]


def all_voices(engine: str) -> list[Voice]:
    if engine == "flite":
        return [Voice("flite", v, p, s) for v in FLITE_VOICES for p in FLITE_SHIFTS for s in FLITE_STRETCH]
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
    plain = [v for v in flite if v.pitch == 0 and v.speed == 1.0]
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
    """Speak ``text`` (already normalised words) with ``voice``: trimmed, loudness-normalised float32."""
    import librosa

    from dlcli.audio import load_audio

    with tempfile.TemporaryDirectory(prefix="dlcli-tts-") as folder:
        raw, shifted = Path(folder) / "raw.wav", Path(folder) / "shifted.wav"
        if voice.engine == "flite":
            command = ["flite", "-voice", voice.voice, "-t", text, "-o", str(raw)]
            if voice.speed != 1.0:
                command[1:1] = ["--setf", f"duration_stretch={voice.speed}"]
        else:
            command = ["espeak-ng", "-v", voice.voice, "-p", str(voice.pitch), "-s", str(int(voice.speed))]
            command += ["-w", str(raw), text]
        subprocess.run(command, check=True, capture_output=True, timeout=120)
        if voice.engine == "flite" and voice.pitch:
            subprocess.run(["sox", str(raw), str(shifted), "pitch", str(voice.pitch)], check=True, capture_output=True)
            raw = shifted
        samples, _ = load_audio(raw, sample_rate)
    samples, _ = librosa.effects.trim(samples, top_db=40, frame_length=512, hop_length=128)
    pad = np.zeros(int(0.05 * sample_rate), np.float32)
    samples = np.concatenate([pad, samples, pad])
    rms = float(np.sqrt(np.mean(samples**2))) or 1.0
    return np.clip(samples * (TARGET_RMS / rms), -0.99, 0.99).astype(np.float32)


@dataclass
class Utterance:
    audio: Path
    speaker: str
    text: str


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
) -> list[Utterance]:
    """Write a corpus into ``out`` (see the module docstring) and return its utterances."""
    from dlcli.audio import save_audio
    from dlcli.console import progress
    from dlcli.tts.sentences import SentenceGrammar
    from dlcli.tts.text import normalise

    out = Path(out)
    if (out / "metadata.csv").exists():
        raise UsageError(f"{out} already holds a corpus (metadata.csv); choose another --out")
    voices = voices or choose_voices(speakers, flite_share, seed)
    grammar = SentenceGrammar(seed)
    jobs_list = []
    for voice in voices:
        for index, text in enumerate(grammar.sentences(utterances_per_speaker)):
            path = Path("wavs") / voice.name / f"{voice.name}_{index:04d}.{audio_format}"
            jobs_list.append((voice, text, path))

    def make(job) -> Utterance:
        voice, text, path = job
        samples = render(voice, normalise(text).text, sample_rate)
        save_audio(out / path, samples, sample_rate)
        return Utterance(path, voice.name, text)

    (out / "wavs").mkdir(parents=True, exist_ok=True)
    results: list[Utterance] = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool, progress() as bar:
        task = bar.add_task("rendering", total=len(jobs_list), info=f"{len(voices)} voices")
        for utterance in pool.map(make, jobs_list):
            results.append(utterance)
            bar.update(task, advance=1)
    write_text_atomic(out / "speakers.json", json.dumps({v.name: asdict(v) for v in voices}, indent=1))
    write_text_atomic(out / "metadata.csv", "".join(f"{u.audio}|{u.speaker}|{u.text}\n" for u in results))
    return results


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
        if len(fields) == 3 and audio.suffix:  # wav|speaker|text
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
            utterances.append(Utterance(audio, speaker, text))
    if not utterances:
        raise InputError("no usable utterances (" + (problems[0] if problems else "empty file") + ")", path=path)
    return utterances, problems
