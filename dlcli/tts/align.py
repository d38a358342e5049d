"""Exact phone alignments from flite, and the per-phone pitch and energy a duration model trains on.

flite prints every phone it speaks with its end time (``-psdur``: ``pau:0.176 dh:0.284 ...``),
so an utterance it renders carries its phone sequence and durations in the phone set it was
actually spoken with (CMU's, with flite's reduced vowel ``ax`` and pause ``pau``). The same
call without audio (``-o none``) gives the phones of any text at synthesis, which keeps the
front end consistent with training. Durations are stored in mel frames (hop 200 at 16 kHz);
they sum to the frame count of the utterance's mel (``1 + samples // hop``, centred STFT).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from dlcli.errors import InputError, UsageError

PAD, UNKNOWN = "_", "?"
# flite's US English phone set (cmu_us_*: radio phones incl. the reduced vowel ax) and its pause
FLITE_PHONES = [
    "pau",
    "aa",
    "ae",
    "ah",
    "ao",
    "aw",
    "ax",
    "axr",
    "ay",
    "b",
    "ch",
    "d",
    "dh",
    "eh",
    "el",
    "em",
    "en",
    "er",
    "ey",
    "f",
    "g",
    "hh",
    "ih",
    "iy",
    "jh",
    "k",
    "l",
    "m",
    "n",
    "nx",
    "ng",
    "ow",
    "oy",
    "p",
    "r",
    "s",
    "sh",
    "t",
    "th",
    "uh",
    "uw",
    "v",
    "w",
    "y",
    "z",
    "zh",
]
PHONES = (PAD, UNKNOWN, *FLITE_PHONES)
PHONE_ID = {phone: index for index, phone in enumerate(PHONES)}
VOICED = frozenset(FLITE_PHONES) - {"pau", "ch", "f", "hh", "k", "p", "s", "sh", "t", "th"}


def parse_psdur(output: str) -> list[tuple[str, float]]:
    """``pau:0.176 dh:0.284`` -> [("pau", 0.176), ("dh", 0.284)] (phone, end time in seconds)."""
    pairs = []
    for item in output.split():
        phone, _, end = item.rpartition(":")
        try:
            pairs.append((phone, float(end)))
        except ValueError:
            continue  # anything flite prints that is not a phone:time pair
    return pairs


def spoken_text(tokens: Sequence[str]) -> str:
    """Normalised tokens back to text with punctuation attached, so flite pauses where the text does."""
    out = ""
    for token in tokens:
        if token in ",.;:!?" and out:
            out += token
        elif token not in "-\"'":
            out += (" " if out else "") + token
    return out


def flite_command(voice: str, text: str, output: str, settings: Sequence[str] = ()) -> list[str]:
    command = ["flite", "-voice", voice, "-psdur", "-t", text, "-o", output]
    for setting in settings:
        command[1:1] = ["--setf", setting]
    return command


def text_phones(text: str, voice: str = "rms") -> list[str]:
    """flite's phones for ``text`` (already normalised): the front end of the duration model."""
    if not shutil.which("flite"):
        raise UsageError("the duration model reads text through flite: install it (apt install flite)")
    result = subprocess.run(flite_command(voice, text, "none"), capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise InputError(f"flite could not read the text {text[:40]!r}: {result.stderr.strip()[:200]}")
    return [phone for phone, _ in parse_psdur(result.stdout)]


def frame_durations(ends: Sequence[float], frames: int, sample_rate: int, hop_length: int) -> list[int]:
    """Phone end times (s) -> frames per phone summing to ``frames``; every phone keeps at least 0 frames."""
    bounds = np.round(np.asarray(ends, np.float64) * sample_rate / hop_length).astype(int)
    bounds = np.clip(np.maximum.accumulate(bounds), 0, frames)
    bounds[-1] = frames  # the last phone (a pause) takes the centred STFT's extra frame and any rounding
    return np.diff(np.concatenate([[0], bounds])).tolist()


def format_alignment(phones: Sequence[str], durations: Sequence[int]) -> str:
    return " ".join(f"{p}:{d}" for p, d in zip(phones, durations))


def parse_alignment(field: str) -> tuple[list[str], list[int]]:
    """``pau:14 dh:9`` -> (phones, frames). Raises ValueError on a malformed field."""
    phones, durations = [], []
    for item in field.split():
        phone, _, frames = item.rpartition(":")
        if not phone or not frames.isdigit():
            raise ValueError(f"'{item}' is not phone:frames")
        phones.append(phone)
        durations.append(int(frames))
    if not phones:
        raise ValueError("empty alignment")
    return phones, durations


def phone_ids(phones: Sequence[str]) -> list[int]:
    return [PHONE_ID.get(phone, PHONE_ID[UNKNOWN]) for phone in phones]


@torch.no_grad()
def frame_pitch(
    waveform: Tensor, hop_length: int = 200, window: int = 800, sample_rate: int = 16000, fmin=60.0, fmax=450.0
) -> tuple[Tensor, Tensor]:
    """(f0 in Hz, periodicity 0..1) per centred frame, by normalised autocorrelation (batched FFT).

    Cheap and good enough to condition a model on: the voicing decision is made per phone
    (periodicity and the phone class), not per frame."""
    x = torch.nn.functional.pad(waveform[None, None].float(), (window // 2, window // 2), mode="reflect")[0, 0]
    frames = x.unfold(0, window, hop_length)  # (frames, window)
    frames = frames - frames.mean(1, keepdim=True)
    frames = frames * torch.hann_window(window)
    spectrum = torch.fft.rfft(frames, n=2 * window)
    correlation = torch.fft.irfft(spectrum.abs().pow(2), n=2 * window)[:, :window]
    correlation = correlation / correlation[:, :1].clamp_min(1e-8)
    low, high = int(sample_rate / fmax), int(sample_rate / fmin)
    # the Hann window tapers the correlation at longer lags: undo it so long periods are not penalised
    taper = torch.fft.irfft(torch.fft.rfft(torch.hann_window(window), n=2 * window).abs().pow(2), n=2 * window)
    correlation = correlation / (taper[:window] / taper[0]).clamp_min(0.1)
    search = correlation[:, low:high]
    peak = search.max(1).values
    # the shortest lag that is nearly as periodic as the best one (a period's multiples correlate as well)
    first = (search >= 0.9 * peak[:, None]).int().argmax(1, keepdim=True)
    positions = torch.arange(search.shape[1])[None]
    near = (positions >= first) & (positions + low <= (first + low) * 1.2)  # that peak, not its rising edge
    lag = torch.where(near, search, torch.full_like(search, -2.0)).argmax(1)
    f0 = sample_rate / (lag.float() + low)
    return f0, peak.clamp(0, 1)


def phone_means(values: Tensor, durations: Sequence[int]) -> Tensor:
    """Mean of a per-frame value over each phone's frames (0 for a phone of no frames)."""
    durations_t = torch.as_tensor(list(durations))
    index = torch.repeat_interleave(torch.arange(len(durations_t)), durations_t)
    sums = torch.zeros(len(durations_t)).index_add_(0, index, values[: len(index)].float())
    return sums / durations_t.clamp_min(1)


def phone_prosody(waveform: Tensor, log_mel: Tensor, phones: Sequence[str], durations: Sequence[int], hop: int = 200):
    """Per-phone (log f0, voiced 0/1, energy): targets of the pitch and energy predictors.

    log f0 is the mean over the phone's periodic frames (0 where unvoiced); energy is the
    mean log-mel level of the phone's frames."""
    f0, periodicity = frame_pitch(waveform, hop)
    n = log_mel.shape[0]
    f0, periodicity = f0[:n], periodicity[:n]
    periodic = (periodicity > 0.5).float()
    voiced_frames = phone_means(periodic, durations)
    log_f0_sum = phone_means(torch.log(f0) * periodic, durations)
    voiced = (voiced_frames > 0.3) & torch.tensor([p in VOICED for p in phones])
    log_f0 = torch.where(voiced, log_f0_sum / voiced_frames.clamp_min(1e-3), torch.zeros(()))
    energy = phone_means(log_mel.mean(1), durations)
    return log_f0, voiced.float(), energy
