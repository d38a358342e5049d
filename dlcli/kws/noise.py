"""Background noise: coloured noise, hum, fan and keyword-free babble for ``_background_noise_``.

Speech Commands ships six noise files (white and pink noise, dishes, a cat, an exercise
bike, a running tap). A generated corpus gets its own: they feed the "silence" class,
background mixing during training, and false-accept counts on keyword-free audio.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from dlcli.audio import save_audio

SAMPLE_RATE = 16000

# read aloud for babble: none of the 35 Speech Commands words appears in these sentences
BABBLE_TEXT = (
    "The weather was pleasant and the market closed early that afternoon.",
    "Please remember to water the plants before the guests arrive.",
    "A small boat drifted slowly across the quiet harbour at dusk.",
    "Several children painted colourful pictures during the lesson.",
    "The library keeps its rare books in a cool and dry basement.",
    "Fresh bread and warm soup were served at the village festival.",
    "Engineers measured the bridge carefully after the storm had passed.",
    "My neighbour collects old maps and antique compasses.",
)


def coloured(samples: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectrum 1 / f^exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    frequencies = np.fft.rfftfreq(samples)
    frequencies[0] = frequencies[1] if samples > 1 else 1.0
    spectrum /= frequencies ** (exponent / 2)
    noise = np.fft.irfft(spectrum, n=samples)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def hum(samples: int, rng: np.random.Generator) -> np.ndarray:
    """Mains hum (50 or 60 Hz and harmonics) over a faint hiss."""
    t = np.arange(samples) / SAMPLE_RATE
    base = rng.choice([50.0, 60.0])
    signal = sum(
        rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 6.3)) for k in range(1, 8)
    )
    signal = signal + 0.05 * coloured(samples, 0.0, rng)
    return signal / np.sqrt(np.mean(signal**2))


def fan(samples: int, rng: np.random.Generator) -> np.ndarray:
    """Brownish rumble with a slow swell and a blade tone, like a fan or an engine far away."""
    t = np.arange(samples) / SAMPLE_RATE
    rumble = coloured(samples, 1.6, rng) * (1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t))
    blade = 0.3 * np.sin(2 * np.pi * rng.uniform(80, 240) * t)
    signal = rumble + blade
    return signal / np.sqrt(np.mean(signal**2))


def babble(samples: int, rng: np.random.Generator) -> np.ndarray:
    """Several synthetic talkers reading keyword-free sentences at once (needs espeak-ng or flite)."""
    from dlcli.kws import synth

    if shutil.which("espeak-ng") is None:
        return np.zeros(0)
    signal = np.zeros(samples)
    variants = synth.espeak_variants() or ("",)
    for _ in range(5):  # talkers
        position = int(rng.integers(0, SAMPLE_RATE))
        while position < samples:
            accent, variant = str(rng.choice(synth.ESPEAK_ACCENTS)), str(rng.choice(variants))
            voice = synth.Voice(
                speaker="", split="", engine="espeak-ng", voice=f"{accent}+{variant}".rstrip("+"),
                pitch=float(rng.uniform(20, 80)), speed=float(rng.uniform(140, 200)), highpass_hz=0, lowpass_hz=0,
                peaks=[], rt60_s=0, direct_to_reverb_db=0, peak_dbfs=0, floor_snr_db=0,
            )  # fmt: skip
            speech = synth.speak(voice, str(rng.choice(BABBLE_TEXT)))
            end = min(samples, position + len(speech))
            signal[position:end] += speech[: end - position] * rng.uniform(0.5, 1.0) / (np.abs(speech).max() + 1e-9)
            position = end + int(rng.integers(SAMPLE_RATE // 10, SAMPLE_RATE))
    return signal / (np.sqrt(np.mean(signal**2)) + 1e-12)


def write_noise_files(folder: str | Path, seconds: float, seed: int, fmt: str = "wav") -> list[Path]:
    """The generated ``_background_noise_`` files (kept when they already exist)."""
    folder = Path(folder)
    samples = max(SAMPLE_RATE, int(seconds * SAMPLE_RATE))
    makers = {
        "white_noise": lambda rng: coloured(samples, 0.0, rng),
        "pink_noise": lambda rng: coloured(samples, 1.0, rng),
        "brown_noise": lambda rng: coloured(samples, 2.0, rng),
        "hum": lambda rng: hum(samples, rng),
        "fan": lambda rng: fan(samples, rng),
        "babble": lambda rng: babble(samples, rng),
    }
    written = []
    for index, (name, make) in enumerate(makers.items()):
        path = folder / f"{name}.{fmt}"
        if not path.exists():
            noise = make(np.random.default_rng([seed, 3, index]))
            if noise.size == 0:
                continue
            save_audio(path, 0.25 * noise / max(np.abs(noise).max(), 1e-9), SAMPLE_RATE)
        written.append(path)
    return written
