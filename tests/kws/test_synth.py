import shutil

import numpy as np
import pytest

from dlcli.audio import load_audio
from dlcli.kws.data import scan_corpus, split_of
from dlcli.kws.noise import coloured
from dlcli.kws.synth import SynthConfig, draw_voices, generate_corpus

needs_speech = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("flite") is None, reason="espeak-ng and flite are not installed"
)


@needs_speech
def test_voices_are_varied_reproducible_and_split_by_the_hash_rule():
    config = SynthConfig(voices=40, seed=3)
    voices = draw_voices(config)
    assert [v.speaker for v in voices] == [v.speaker for v in draw_voices(config)]
    assert len({v.speaker for v in voices}) == 40
    assert all(split_of(v.speaker) == v.split for v in voices)
    assert sorted(sum(v.split == s for v in voices) for s in ("testing", "training", "validation")) == [4, 4, 32]
    assert {v.engine for v in voices} == {"espeak-ng", "flite"}
    assert len({v.voice for v in voices}) > 20 and len({round(v.pitch) for v in voices}) > 20
    assert any(v.rt60_s == 0 for v in voices) and any(v.rt60_s > 0 for v in voices)


@needs_speech
def test_a_tiny_corpus_has_the_speech_commands_layout(tmp_path):
    config = SynthConfig(voices=3, words=["yes", "left"], noise_seconds=1.0, workers=1, flite_share=0.5, seed=5)
    summary = generate_corpus(tmp_path, config, quiet=True)
    assert summary["clips"] == 6
    corpus = scan_corpus(tmp_path)
    assert corpus.words == ["left", "yes"] and len(corpus.clips) == 6
    assert len(corpus.background) == 6 and (tmp_path / "voices.csv").is_file()
    listed = (tmp_path / "validation_list.txt").read_text().split() + (
        tmp_path / "testing_list.txt"
    ).read_text().split()
    assert all(split_of(name) != "training" for name in listed)
    for clip in corpus.clips:
        audio, rate = load_audio(clip.path)
        assert rate == 16000 and audio.shape == (16000,)
        assert 0.005 < np.abs(audio).max() <= 1.0
        envelope = np.convolve(audio**2, np.ones(800) / 800, mode="same")
        assert envelope.max() > 3 * np.median(envelope)  # a word above the noise (SNR can be as low as 5 dB)
    stamp = corpus.clips[0].path.stat().st_mtime_ns
    generate_corpus(tmp_path, config, quiet=True)  # a rerun keeps what exists
    assert corpus.clips[0].path.stat().st_mtime_ns == stamp


def test_coloured_noise_has_the_asked_slope():
    rng = np.random.default_rng(0)
    for exponent in (0.0, 1.0, 2.0):
        noise = coloured(2**16, exponent, rng)
        spectrum = np.abs(np.fft.rfft(noise)) ** 2
        frequencies = np.fft.rfftfreq(2**16)
        low, high = (
            spectrum[(frequencies > 0.01) & (frequencies < 0.02)].mean(),
            spectrum[(frequencies > 0.2) & (frequencies < 0.4)].mean(),
        )
        slope = np.log10(low / high) / np.log10(0.3 / 0.015)
        assert abs(slope - exponent) < 0.15
