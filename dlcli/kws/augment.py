"""The paper's five distortions and background-noise mixing, batched in torch.

Every clip of a batch gets its own random intensities (dissertation ch. 6.4.2): a pitch
shift, a resampling (longer or shorter, centre-cropped or padded back to one second), a
saturation, a time offset and, with probability 0.3, white noise; the result is scaled
back to the clip's original peak. Then, optionally, a crop of a background-noise recording
is added at a random signal-to-noise ratio (the BC-ResNet recipe mixes noise into 80% of
clips). All of it is tensor code on the batch's device, so a GPU never waits for it; the
random draws come from torch's global generator (restored by the training engine on resume),
or from a ``generator`` when batches are prepared in a background thread.

The phase-vocoder pitch shift costs about three times the small model's own training step on
a CPU. ``pitch_method="warp"`` gives the same shift to models with a log-mel front end for
almost nothing: a pitch shift by a factor p (vocoder stretch, then resampling back) scales
every frequency by p and keeps the timing, so the power spectrogram becomes P(f / p, t); the
front end reads each clip's STFT power through mel filters warped by its factor
(``warp_filterbank``, ``model.pitch_warp``). The clip's other distortions then come before the shift instead of
after it, which changes nothing for the pointwise ones (saturation, white noise) and the
resampling, and shifts the background noise by the same few percent as the speech.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

PITCH_METHODS = ("auto", "vocoder", "warp")


@dataclass
class AugmentConfig:
    mode: str = "online"  # online (fresh distortions every epoch) | offline (the paper: N copies) | none
    copies: int = 5  # offline: distorted copies of every training clip, appended to the originals
    pitch_octaves_std: float = 0.1  # pitch shift in octaves ~ N(0, this)
    resample_std: float = 0.2  # r ~ N(0, this): factor 1 + r, or 1 / (1 + |r|) when r < 0
    saturation_rate: float = 2.5  # p = scale / (1 + Exp(rate)); p < 1 clips at p x peak
    saturation_scale: float = 1.2
    offset_std: float = 0.1  # time offset ~ N(0, this) x clip length, zero filled
    noise_std: float = 0.05  # white-noise amplitude ~ |N(0, this)| x peak...
    noise_probability: float = 0.3  # ...applied to this share of clips
    background_probability: float = 0.8  # clips that get a crop of background noise added
    background_snr_db: list[float] = field(default_factory=lambda: [0.0, 20.0])  # uniform range
    pitch_method: str = "auto"  # vocoder (the reference, on the waveform) | warp (of the spectrogram, log-mel
    # front ends only) | auto (warp where the model has a log-mel front end, else the vocoder)

    def __post_init__(self) -> None:
        if self.mode not in ("online", "offline", "none"):
            raise ValueError(f"augment mode must be online, offline or none, not {self.mode!r}")
        if self.copies < 0:
            raise ValueError("copies must not be negative")
        if len(self.background_snr_db) != 2 or self.background_snr_db[0] > self.background_snr_db[1]:
            raise ValueError("background_snr_db must be [low, high]")
        if self.pitch_method not in PITCH_METHODS:
            raise ValueError(f"pitch_method must be {', '.join(PITCH_METHODS)}, not {self.pitch_method!r}")


def _interpolate(x: Tensor, positions: Tensor) -> Tensor:
    """Linear interpolation of each row of ``x`` (B, T) at fractional ``positions`` (B, N); outside -> 0."""
    length = x.shape[-1]
    inside = (positions >= 0) & (positions <= length - 1)
    positions = positions.clamp(0, length - 1)
    left = positions.floor().long().clamp(max=length - 2)
    fraction = positions - left
    x0, x1 = x.gather(1, left), x.gather(1, left + 1)
    return torch.where(inside, x0 + fraction * (x1 - x0), torch.zeros_like(x0))


def _lock_to_peaks(phase: Tensor, analysis: Tensor, magnitude: Tensor) -> Tensor:
    """Identity phase locking (Laroche & Dolson, 1999), to the strongest neighbour: a bin whose
    neighbour is louder takes that bin's synthesis phase plus their analysis phase difference, so
    the bins of one harmonic stay coherent (speech keeps ~65% of its energy instead of ~50%)."""

    def neighbours(values: Tensor) -> tuple[Tensor, Tensor]:
        below = torch.cat([values[:, :1], values[:, :-1]], dim=1)  # bin k - 1 (edge: itself)
        above = torch.cat([values[:, 1:], values[:, -1:]], dim=1)  # bin k + 1
        return below, above

    magnitude_below, magnitude_above = neighbours(magnitude)
    take_below = (magnitude_below > magnitude) & (magnitude_below >= magnitude_above)
    take_above = (magnitude_above > magnitude) & ~take_below
    phase_below, phase_above = neighbours(phase)
    analysis_below, analysis_above = neighbours(analysis)
    locked_below = phase_below + analysis - analysis_below
    locked_above = phase_above + analysis - analysis_above
    return torch.where(take_below, locked_below, torch.where(take_above, locked_above, phase))


def time_stretch(x: Tensor, rate: Tensor, n_fft: int = 512, hop: int = 128, phase_locking: bool = True) -> Tensor:
    """Phase-vocoder time stretch (Flanagan & Golden, 1966) with one rate per row: length ~ T / rate."""
    batch, length = x.shape
    window = torch.hann_window(n_fft, device=x.device)
    # zero padding: reflected edges give the first frame inconsistent phases, which the vocoder carries on
    spectrum = torch.stft(x, n_fft, hop, window=window, center=True, pad_mode="constant", return_complex=True)
    bins, frames = spectrum.shape[1:]  # (B, F, N)
    out_frames = int(math.ceil(frames / float(rate.min()))) + 1
    steps = torch.arange(out_frames, device=x.device, dtype=x.dtype)[None] * rate[:, None]  # (B, M)
    valid = steps < frames - 1
    steps = steps.clamp(max=frames - 1)
    index = steps.floor().long()
    alpha = (steps - index)[:, None]  # (B, 1, M)
    magnitude_in = F.pad(spectrum.abs(), (0, 2))
    phase_in = F.pad(spectrum.angle(), (0, 2))
    at = lambda values, i: values.gather(2, i[:, None, :].expand(batch, bins, -1))  # noqa: E731
    phase0, phase1 = at(phase_in, index), at(phase_in, index + 1)
    magnitude = ((1 - alpha) * at(magnitude_in, index) + alpha * at(magnitude_in, index + 1)) * valid[:, None, :]
    # expected advance per hop, modulo 2 pi: the running sum then stays small enough for float32
    advance = torch.remainder(torch.linspace(0, math.pi * hop, bins, dtype=torch.float64), 2 * math.pi)
    advance = advance.to(x.device, x.dtype)[None, :, None]
    deviation = phase1 - phase0 - advance
    increment = deviation - 2 * math.pi * torch.round(deviation / (2 * math.pi)) + advance
    phase = torch.cat([phase_in[..., :1], increment[..., :-1]], dim=-1).cumsum(-1)
    if phase_locking:
        phase = _lock_to_peaks(phase, phase0, magnitude)
    stretched = torch.polar(magnitude, phase)
    return torch.istft(stretched, n_fft, hop, window=window, center=True, length=(out_frames - 1) * hop)


def pitch_shift(x: Tensor, semitones: Tensor) -> Tensor:
    """Shift pitch, keep duration: stretch by 2^(-s/12), then resample back to the original length."""
    rate = torch.pow(2.0, -semitones / 12)
    stretched = time_stretch(x, rate)
    positions = torch.arange(x.shape[-1], device=x.device, dtype=x.dtype)[None] / rate[:, None]
    return _interpolate(stretched, positions)


def resample_and_offset(x: Tensor, factor: Tensor, offset: Tensor) -> Tensor:
    """Stretch each clip by ``factor`` about its centre (crop or zero-pad back), then shift by ``offset`` samples."""
    length = x.shape[-1]
    centre = (length - 1) / 2
    grid = torch.arange(length, device=x.device, dtype=x.dtype)[None]
    positions = centre + (grid - offset[:, None] - centre) / factor[:, None]
    return _interpolate(x, positions)


def _peak(x: Tensor) -> Tensor:
    return x.abs().amax(dim=-1, keepdim=True).clamp_min(1e-8)


def draw_semitones(batch: int, config: AugmentConfig, device=None, generator: torch.Generator | None = None) -> Tensor:
    """Each clip's pitch shift in semitones, ~ N(0, 12 x pitch_octaves_std)."""
    return 12 * config.pitch_octaves_std * torch.randn(batch, device=device, generator=generator)


def distort(
    x: Tensor, config: AugmentConfig, *, generator: torch.Generator | None = None, pitch: bool = True
) -> Tensor:
    """The paper's five distortions together, each clip with its own random intensities.

    ``pitch=False`` leaves the pitch shift to the caller (the spectrogram warp of ``Augmenter``).
    """
    batch, length = x.shape
    x = x.float()
    original_peak = _peak(x)
    device = x.device
    normal = lambda: torch.randn(batch, device=device, generator=generator)  # noqa: E731
    if pitch and config.pitch_octaves_std > 0:
        x = pitch_shift(x, draw_semitones(batch, config, device, generator))
    r = config.resample_std * normal()
    factor = torch.where(r >= 0, 1 + r, 1 / (1 + r.abs()))
    offset = (config.offset_std * length * normal()).round()
    x = resample_and_offset(x, factor, offset)
    peak = _peak(x)
    # p = scale / (1 + Exp(rate)), drawn as torch.distributions.Exponential does (which takes no generator)
    p = config.saturation_scale / (1 + x.new_empty(batch).exponential_(generator=generator) / config.saturation_rate)
    p = p[:, None]
    bound = peak * p  # p < 1 clips at p x peak; p >= 1 leaves every sample inside the bound
    x = torch.clamp(x, -bound, bound) / p
    amplitude = (config.noise_std * normal()).abs()[:, None]
    noisy = torch.nonzero(torch.rand(batch, device=device, generator=generator) < config.noise_probability)[:, 0]
    if len(noisy):  # white noise for the chosen clips only (a third of the batch by default)
        rows = x[noisy]
        noise = torch.randn(rows.shape, device=device, generator=generator)
        x = x.index_copy(0, noisy, rows + amplitude[noisy] * _peak(rows) * noise)
    return x * (original_peak / _peak(x))


def mix_background(
    x: Tensor, noise: Tensor, config: AugmentConfig, *, generator: torch.Generator | None = None
) -> Tensor:
    """Add a random one-clip crop of ``noise`` (concatenated recordings, 1-D) at a random SNR."""
    batch, length = x.shape
    if noise.numel() < length or config.background_probability <= 0:
        return x
    starts = torch.randint(0, noise.numel() - length + 1, (batch,), device=x.device, generator=generator)
    crops = noise.unfold(0, length, 1)[starts]  # (B, T): rows of a strided view, copied once
    low, high = config.background_snr_db
    snr = low + (high - low) * torch.rand(batch, 1, device=x.device, generator=generator)
    signal_power = x.pow(2).mean(-1, keepdim=True).clamp_min(1e-10)
    noise_power = crops.pow(2).mean(-1, keepdim=True).clamp_min(1e-10)
    gain = torch.sqrt(signal_power / noise_power * torch.pow(10.0, -snr / 10))
    chosen = (torch.rand(batch, 1, device=x.device, generator=generator) < config.background_probability).float()
    return x + chosen * gain * crops


def warp_filterbank(filters: Tensor, factors: Tensor) -> Tensor:
    """Filters (n_mels, bins) warped for one pitch factor per clip: (B, n_mels, bins).

    A clip pitch-shifted by ``p`` has its spectral line of bin ``j`` at bin ``p j``, with the
    same height, so filter ``m`` collects ``sum_j F_m(p j) P(j)``: the filters read at ``p j``
    (linear interpolation between bins; zero above the Nyquist bin, as after the vocoder's
    resampling). The same matrix product as the plain filters, so the warp costs next to nothing.
    """
    bins = filters.shape[-1]
    positions = torch.arange(bins, device=filters.device, dtype=filters.dtype)[None] * factors[:, None].to(filters)
    inside = (positions <= bins - 1)[:, None, :]  # (B, 1, bins)
    left = positions.floor().long().clamp(max=bins - 2)
    fraction = (positions - left)[:, None, :]
    expanded = filters[None].expand(len(factors), -1, -1)  # (B, n_mels, bins)
    low = expanded.gather(2, left[:, None, :].expand_as(expanded))
    high = expanded.gather(2, (left + 1)[:, None, :].expand_as(expanded))
    return torch.where(inside, low + fraction * (high - low), torch.zeros_like(low))


class Augmenter:
    """Distortions plus background mixing for training batches (float clips, any scale)."""

    def __init__(self, config: AugmentConfig, noise: Tensor | None = None):
        self.config = config
        self.noise = noise  # 1-D float tensor of concatenated background recordings, or None

    def to(self, device: torch.device) -> Augmenter:
        if self.noise is not None:
            self.noise = self.noise.to(device)
        return self

    def __call__(self, x: Tensor, *, distortions: bool = True, generator: torch.Generator | None = None) -> Tensor:
        if distortions:
            x = distort(x, self.config, generator=generator)
        if self.noise is not None:
            x = mix_background(x, self.noise, self.config, generator=generator)
        return x

    def with_pitch_factors(self, x: Tensor, *, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Everything but the pitch shift, and each clip's pitch factor for the spectrogram warp."""
        semitones = draw_semitones(x.shape[0], self.config, x.device, generator)
        x = distort(x, self.config, generator=generator, pitch=False)
        if self.noise is not None:
            x = mix_background(x, self.noise, self.config, generator=generator)
        return x, torch.pow(2.0, semitones / 12)
