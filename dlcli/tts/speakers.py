"""Speaker embeddings from a pre-trained speaker-verification model (resemblyzer's GE2E encoder).

The encoder (Wan et al., 2018) ships its weights inside the resemblyzer wheel, so nothing
downloads. Utterance embeddings (256-d, unit length) are cached next to the corpus keyed
by a hash of the audio bytes; a speaker is the mean of its utterances' embeddings
(renormalised), as the reference method averages them. The same encoder scores
distinctiveness in ``tts evaluate``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dlcli.errors import UsageError

log = logging.getLogger("dlcli.tts")
EMBEDDING_SIZE = 256
CACHE_NAME = ".dlcli-speaker-embeddings.npz"


@functools.cache
def encoder():
    """resemblyzer's VoiceEncoder on the CPU (it is small; one thread keeps a busy machine usable)."""
    try:
        from resemblyzer import VoiceEncoder
    except ImportError:
        raise UsageError(
            "speaker embeddings need resemblyzer: pip install 'dlcli[tts]' (with webrtcvad-wheels)"
        ) from None
    return VoiceEncoder("cpu", verbose=False)


def embed_waveform(samples: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """One unit-length 256-d embedding of a float waveform."""
    from resemblyzer import preprocess_wav

    wav = preprocess_wav(np.asarray(samples, dtype=np.float32), source_sr=sample_rate)
    if len(wav) < 1600:  # the voice-activity trim left almost nothing: embed the raw clip
        wav = np.asarray(samples, dtype=np.float32)
    return encoder().embed_utterance(wav).astype(np.float32)


def _content_key(path: Path) -> str:
    """Cache key from the audio bytes, so a cache stays valid when a corpus is copied or checked out."""
    import hashlib

    return hashlib.sha1(path.read_bytes()).hexdigest()


def embed_files(paths: Sequence[Path], cache: Path | None = None, *, quiet: bool = False) -> np.ndarray:
    """Embeddings (len(paths), 256) of audio files, reusing and updating the cache file."""
    from dlcli.audio import load_audio
    from dlcli.console import progress
    from dlcli.files import atomic_path

    keys = [_content_key(Path(path)) for path in paths]
    known: dict[str, np.ndarray] = {}
    if cache is not None and cache.is_file():
        try:
            with np.load(cache) as stored:
                known = dict(zip(stored["keys"].tolist(), stored["embeddings"]))
        except (OSError, ValueError, KeyError):
            log.warning(f"{cache}: unreadable embedding cache, recomputing")
    missing = [i for i, key in enumerate(keys) if key not in known]
    if missing:
        with progress(disable=quiet) as bar:
            task = bar.add_task("speaker embeddings", total=len(missing), info="")
            for index in missing:
                samples, rate = load_audio(paths[index], 16000)
                known[keys[index]] = embed_waveform(samples, rate)
                bar.update(task, advance=1)
        if cache is not None:
            try:
                with atomic_path(cache) as temporary, open(temporary, "wb") as handle:
                    np.savez(handle, keys=np.array(list(known)), embeddings=np.stack(list(known.values())))
            except OSError as error:
                log.warning(f"cannot write the embedding cache {cache}: {error.strerror}")
    return np.stack([known[key] for key in keys]).astype(np.float32)


def speaker_means(embeddings: np.ndarray, speakers: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Sorted speaker names and their mean embeddings, renormalised to unit length."""
    names = sorted(set(speakers))
    index = {name: i for i, name in enumerate(names)}
    sums = np.zeros((len(names), embeddings.shape[1]), np.float64)
    for row, speaker in zip(embeddings, speakers):
        sums[index[speaker]] += row
    means = sums / np.linalg.norm(sums, axis=1, keepdims=True).clip(1e-9)
    return names, means.astype(np.float32)


def real_speaker_embeddings(folder: Path, cache: Path | None = None) -> np.ndarray:
    """Utterance embeddings of a folder of real recordings (e.g. LibriSpeech), for the speaker flow."""
    from dlcli.audio import list_audio_files

    files = list_audio_files(folder)
    if not files:
        raise UsageError(f"{folder}: no audio files for real speaker embeddings")
    return embed_files(files, cache)
