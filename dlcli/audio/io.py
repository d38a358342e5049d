"""Reading, listing and writing audio files.

Everything libsndfile decodes (wav, flac, ogg/vorbis, opus, mp3, aiff, ...) loads as
float32 mono at the sample rate asked for (soxr resampling). Files that are empty,
truncated, not audio, or hold non-finite samples raise an ``AudioError`` naming the
file, so batch commands can skip and report them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from dlcli.errors import AudioError, InputError
from dlcli.files import atomic_path

AUDIO_EXTENSIONS = frozenset(
    [
        ".wav",
        ".wave",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".aif",
        ".aiff",
        ".aifc",
        ".au",
        ".snd",
        ".caf",
        ".w64",
        ".rf64",
        ".sph",
        ".nist",
        ".voc",
        ".htk",
    ]
)
_DECLARED_DATA = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


def _soundfile():
    try:
        import soundfile
    except OSError as error:  # the libsndfile shared library is missing
        raise AudioError(f"cannot load libsndfile: {error}") from None
    return soundfile


def _describe(error: Exception) -> str:
    text = str(error)
    if "Format not recognised" in text or "Format not recognized" in text:
        return "not an audio file, or a format libsndfile cannot read"
    if "malformed" in text:
        return "malformed or truncated audio file"
    if "lost sync" in text or "decoder" in text:
        return f"truncated or corrupted audio ({text.split(':')[-1].strip()})"
    return text.removeprefix("Error opening ").strip() or type(error).__name__


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Resample along the first axis with soxr (high quality); a no-op when the rates match."""
    if source_rate == target_rate or samples.shape[0] == 0:
        return samples
    import soxr

    return soxr.resample(samples, source_rate, target_rate, quality="HQ").astype(np.float32, copy=False)


def load_audio(path: str | Path, sample_rate: int | None = None, *, mono: bool = True) -> tuple[np.ndarray, int]:
    """Decode ``path``; return ``(samples, rate)``: float32, (frames,) if mono else (frames, channels).

    With ``sample_rate`` the audio is resampled to it; without, the file's own rate is kept.
    """
    path = Path(path)
    soundfile = _soundfile()
    if not path.is_file():
        raise AudioError("no such file" if not path.exists() else "not a regular file", path=path)
    try:
        with soundfile.SoundFile(path) as handle:
            rate = handle.samplerate
            declared = _DECLARED_DATA.search(handle.extra_info)
            samples = handle.read(dtype="float32", always_2d=True)
    except soundfile.LibsndfileError as error:
        raise AudioError(_describe(error), path=path) from None
    except (RuntimeError, ValueError, TypeError, EOFError) as error:
        raise AudioError(f"cannot decode: {error}", path=path) from None
    if declared and int(declared.group(2)) < int(declared.group(1)):
        raise AudioError(
            f"truncated: the header announces {declared.group(1)} bytes of audio, the file holds {declared.group(2)}",
            path=path,
        )
    if samples.shape[0] == 0:
        raise AudioError("holds no audio (0 frames)", path=path)
    if not np.isfinite(samples).all():
        raise AudioError("holds non-finite samples (NaN or inf)", path=path)
    if mono:
        samples = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    if sample_rate is not None and sample_rate != rate:
        samples = resample(np.ascontiguousarray(samples), rate, sample_rate)
        rate = sample_rate
    return np.ascontiguousarray(samples, dtype=np.float32), rate


def audio_duration(path: str | Path) -> float:
    """Length in seconds from the header, without decoding."""
    soundfile = _soundfile()
    try:
        info = soundfile.info(str(path))
    except soundfile.LibsndfileError as error:
        raise AudioError(_describe(error), path=path) from None
    return info.frames / info.samplerate


def is_audio_file(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS and not path.name.startswith(".")


def list_audio_files(paths: str | Path | Iterable[str | Path], *, recursive: bool = True) -> list[Path]:
    """Audio files named by ``paths``: files as given, folders searched (recursively) by extension.

    Hidden files and folders are skipped; the result is sorted per argument and free of
    duplicates. A path that does not exist is an ``InputError``.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    for entry in map(Path, paths):
        if entry.is_file():
            candidates = [entry]
        elif entry.is_dir():
            walker = entry.rglob("*") if recursive else entry.glob("*")
            candidates = sorted(
                p
                for p in walker
                if p.is_file()
                and is_audio_file(p)
                and not any(part.startswith(".") for part in p.relative_to(entry).parts)
            )
        else:
            raise InputError("no such file or folder", path=entry)
        for candidate in candidates:
            info = candidate.stat()  # the same file by another path (or link) has the same device and inode
            key = (info.st_dev, info.st_ino)
            if key not in seen:
                seen.add(key)
                found.append(candidate)
    return found


_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".aiff": "AIFF", ".aif": "AIFF", ".au": "AU", ".w64": "W64"}


def save_audio(path: str | Path, samples: np.ndarray, sample_rate: int, *, subtype: str | None = None) -> Path:
    """Write audio atomically (the format follows the extension; wav is 16-bit PCM by default)."""
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"cannot write audio with extension '{path.suffix}' (use one of {', '.join(_FORMATS)})", path=path
        )
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim not in (1, 2) or samples.shape[0] == 0:
        raise InputError(f"refusing to write empty or badly shaped audio {samples.shape}", path=path)
    if subtype is None and fmt in ("WAV", "AIFF", "W64", "AU"):
        subtype = "PCM_16"
    soundfile = _soundfile()
    with atomic_path(path) as temporary:
        soundfile.write(temporary, np.clip(samples, -1.0, 1.0), sample_rate, subtype=subtype, format=fmt)
    return path
