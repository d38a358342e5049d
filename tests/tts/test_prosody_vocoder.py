import numpy as np
import pytest
import torch

from dlcli.tts.asr import wer, word_errors
from dlcli.tts.data import AudioConfig, log_mels
from dlcli.tts.prosody import FEATURES, compare_variability, prosody_features
from dlcli.tts.vocoder import GriffinLim

RATE = 16000


def _tone(f0_start, f0_end, seconds=1.0, amplitude=0.3):
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = np.linspace(f0_start, f0_end, len(t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    harmonics = sum(np.sin(k * phase) / k for k in range(1, 6))
    return (amplitude * harmonics / 2).astype(np.float32)


def test_prosody_features_of_a_rising_tone():
    wave = np.concatenate([_tone(120, 180), np.zeros(RATE // 4, np.float32)])
    features = prosody_features(wave, RATE, phonemes=10)
    assert set(features) == set(FEATURES)
    assert features["f0_mean"] == pytest.approx(150, abs=8)
    assert features["f0_range"] == pytest.approx(54, abs=10)  # p95 - p5 of a 120..180 Hz sweep
    assert features["f0_slope"] == pytest.approx(60, abs=12)  # Hz per second
    assert features["speaking_rate"] == pytest.approx(10.0, rel=0.1)  # silence is trimmed
    assert features["snr"] > 40


def test_variability_test_finds_the_more_variable_model():
    rng = np.random.default_rng(0)
    wide = rng.normal(0, 3.0, size=(6, 15))
    narrow = rng.normal(0, 1.0, size=(6, 15))
    result = compare_variability(wide, narrow, rounds=100)
    assert result["pairs"] == 6
    assert result["proposed_higher_pct"] > 80 and result["baseline_higher_pct"] == 0
    reverse = compare_variability(narrow, wide, rounds=100)
    assert reverse["baseline_higher_pct"] > 80


def test_griffin_lim_recovers_a_tone():
    audio = AudioConfig()
    wave = _tone(200, 200, seconds=0.5)
    mel = log_mels([wave], audio)[0][None]
    out = GriffinLim(audio, iterations=16)(mel)[0].numpy()
    assert abs(len(out) - len(wave)) <= audio.hop_length
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    peak = np.argmax(spectrum) * RATE / len(out)
    assert peak == pytest.approx(200, abs=15)


def test_word_error_rate_counts_edits():
    assert word_errors("the cat sat", "the cat sat") == (0, 3)
    assert word_errors("the cat sat", "a cat sat down") == (2, 3)
    assert word_errors("one two", "") == (2, 2)
    assert wer(["a b c d", "e f"], ["a x c d", "e f g"]) == pytest.approx(100 * 2 / 6)
    torch.manual_seed(0)


@pytest.mark.parametrize("name", ["evaluate-far.yaml", "evaluate-prosody.yaml"])
def test_evaluation_recipes_are_valid_configs(name):
    from pathlib import Path

    from dlcli.config import load_config
    from dlcli.tts.evaluate import PARTS, EvaluateConfig

    config = load_config(EvaluateConfig, Path(__file__).resolve().parents[2] / "recipes" / "tts" / name)
    assert set(config.parts) <= set(PARTS) and config.baseline_references == "own"
    assert config.references_per_voice >= config.prosody_seeds or "prosody" not in config.parts
