"""The eight prosody features of the reference evaluation, and the variance test between two models.

Features (after Raitio et al., 2020; dissertation Table 7.2): f0 mean, f0 range (p95 - p5),
f0 slope (Hz/s over voiced frames), power mean, power range and power slope (dB, frames
within 60 dB of the loudest), SNR (loudest vs quietest 50 ms window, dB) and speaking rate
(phonemes per second of trimmed speech). f0 is pYIN's (Mauch & Dixon, 2014) with a 12.5 ms
hop. Variability: per speaker-sentence pair, the variance of each feature over syntheses
with different seeds; bootstrap the variances of both models and test "proposed > baseline"
with a one-sided Wilcoxon signed-rank test, Bonferroni-corrected over the pairs.
"""

from __future__ import annotations

import numpy as np

FEATURES = ("f0_mean", "f0_range", "f0_slope", "power_mean", "power_range", "power_slope", "snr", "speaking_rate")


def _slope(values: np.ndarray, times: np.ndarray) -> float:
    if len(values) < 2 or np.ptp(times) == 0:
        return 0.0
    return float(np.polyfit(times, values, 1)[0])


def prosody_features(samples: np.ndarray, sample_rate: int, phonemes: int, hop: int = 200) -> dict[str, float]:
    """The eight features of one waveform (NaN f0 features when nothing is voiced)."""
    import librosa

    samples = np.asarray(samples, np.float32)
    f0, voiced, _ = librosa.pyin(samples, fmin=50, fmax=500, sr=sample_rate, frame_length=1024, hop_length=hop)
    times = np.arange(len(f0)) * hop / sample_rate
    voiced = voiced & np.isfinite(f0)
    features = {"f0_mean": np.nan, "f0_range": np.nan, "f0_slope": np.nan}
    if voiced.sum() >= 2:
        pitch = f0[voiced]
        features = {
            "f0_mean": float(pitch.mean()),
            "f0_range": float(np.percentile(pitch, 95) - np.percentile(pitch, 5)),
            "f0_slope": _slope(pitch, times[voiced]),
        }
    rms = librosa.feature.rms(y=samples, frame_length=800, hop_length=hop)[0]
    power = 20 * np.log10(np.maximum(rms, 1e-6))
    active = power > power.max() - 60
    frame_times = np.arange(len(power)) * hop / sample_rate
    features["power_mean"] = float(power[active].mean())
    features["power_range"] = float(np.percentile(power[active], 95) - np.percentile(power[active], 5))
    features["power_slope"] = _slope(power[active], frame_times[active])
    window = int(0.05 * sample_rate)
    count = max(1, len(samples) // window)
    windows = samples[: count * window].reshape(count, window) if len(samples) >= window else samples[None]
    window_rms = np.sqrt((windows**2).mean(1))
    features["snr"] = float(20 * np.log10(window_rms.max() / max(window_rms.min(), 1e-5)))
    trimmed, _ = librosa.effects.trim(samples, top_db=40)
    features["speaking_rate"] = phonemes / max(len(trimmed) / sample_rate, 1e-3)
    return features


def bootstrap_variances(values: np.ndarray, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """Variance of ``rounds`` bootstrap resamples of ``values`` (NaNs dropped)."""
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return np.full(rounds, np.nan)
    picks = rng.integers(0, len(values), size=(rounds, len(values)))
    return values[picks].var(axis=1, ddof=1)


def compare_variability(
    proposed: np.ndarray, baseline: np.ndarray, rounds: int = 100, alpha: float = 0.05, seed: int = 0
):
    """proposed, baseline: (pairs, seeds) values of one feature. Returns the share of pairs where each
    model's variance is significantly higher (one-sided Wilcoxon on bootstrap variances, Bonferroni)."""
    from scipy.stats import wilcoxon

    rng = np.random.default_rng(seed)
    pairs = proposed.shape[0]
    corrected = alpha / pairs
    higher, lower, tested = 0, 0, 0
    for row in range(pairs):
        a = bootstrap_variances(proposed[row], rounds, rng)
        b = bootstrap_variances(baseline[row], rounds, rng)
        if not (np.isfinite(a).all() and np.isfinite(b).all()) or np.allclose(a, b):
            continue
        tested += 1
        if wilcoxon(a, b, alternative="greater").pvalue < corrected:
            higher += 1
        elif wilcoxon(a, b, alternative="less").pvalue < corrected:
            lower += 1
    return {
        "pairs": int(tested),
        "proposed_higher_pct": 100.0 * higher / tested if tested else float("nan"),
        "baseline_higher_pct": 100.0 * lower / tested if tested else float("nan"),
        "median_variance_proposed": float(np.nanmedian(np.nanvar(proposed, axis=1, ddof=1))),
        "median_variance_baseline": float(np.nanmedian(np.nanvar(baseline, axis=1, ddof=1))),
    }
