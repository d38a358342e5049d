"""Intelligibility: pocketsphinx transcriptions (offline; model, LM and dictionary ship in its wheel) and WER."""

from __future__ import annotations

import functools

import numpy as np

from dlcli.errors import UsageError


@functools.cache
def _decoder():
    try:
        from pocketsphinx import Decoder
    except ImportError:
        raise UsageError("intelligibility needs pocketsphinx: pip install 'dlcli[tts]'") from None
    return Decoder(loglevel="FATAL")


def transcribe(samples: np.ndarray, sample_rate: int = 16000) -> str:
    """Lower-case words pocketsphinx hears in a 16 kHz float waveform."""
    if sample_rate != 16000:
        from dlcli.audio import resample

        samples = resample(samples, sample_rate, 16000)
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes()
    decoder = _decoder()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return "" if hypothesis is None else " ".join(w for w in hypothesis.hypstr.lower().split() if not w.startswith("<"))


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference length): substitutions + deletions + insertions."""
    ref, hyp = reference.split(), hypothesis.split()
    previous = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, other in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
        previous = current
    return previous[-1], len(ref)


def wer(references: list[str], hypotheses: list[str]) -> float:
    """Corpus word error rate in percent (errors over all reference words)."""
    errors = words = 0
    for reference, hypothesis in zip(references, hypotheses):
        e, n = word_errors(reference, hypothesis)
        errors, words = errors + e, words + n
    return 100.0 * errors / max(words, 1)
