"""Distortions that make synthetic voices look like real recordings, chosen by name.

``kws train --distortions speed,room,band`` applies the named distortions, in that order, to
the offline copies (``--augment offline``) or to every online batch. Each clip draws its own
random intensity. The names:

- ``paper``: the dissertation's five (pitch, resampling, saturation, time offset, white noise);
- ``noise``: a crop of the background recordings (``--background``) at a random SNR
  (``augment.background_snr_db``, to ``augment.background_probability`` of the clips);
  the default ``paper,noise`` is exactly the reference augmentation;
- ``speed``: speed perturbation, tempo and pitch together (Ko et al., 2015), factor in ``speed_range``;
- ``pitch``: a phase-vocoder pitch shift of up to ``pitch_semitones``, duration kept;
- ``vtlp``: vocal-tract-length perturbation, a piecewise-linear warp of the frequency axis of the
  whole spectrum by a factor in ``vtlp_range`` (Jaitly & Hinton, 2013), harmonics and formants alike;
- ``formant``: the spectral envelope alone (cepstral smoothing) warped by a factor in
  ``formant_range``, so the formants move and the pitch stays;
- ``room``: convolution with a simulated room impulse response, a bank of ``rooms`` shoebox rooms
  (image-source method of pyroomacoustics, ``pip install 'dlcli[rooms]'``; without it, exponentially
  decaying noise tails), reverberation time in ``room_rt60``;
- ``band``: a microphone or channel band limit: telephone (300-3400 Hz), an 8 kHz recording
  (below 3800 Hz), or a cheap microphone (high-pass 80-250 Hz, low-pass 4.5-7.5 kHz);
- ``codec``: G.711 mu-law 8-bit quantisation, or GSM 06.10 at 8 kHz through sox when it is installed;
- ``specaugment``: time and frequency masks on the features (Park et al., 2019): on the 32 mel bands
  between the two ONNX stages of the embedding front end, on the log-mel of the small model;
- ``none``: nothing (offline copies are then plain repeats, the same budget without augmentation).

With ``choose: one`` (``--distortion-mode one``) each clip gets one of the named distortions, drawn at
random, instead of all of them in turn (for SpecAugment on the embedding front end: the copies drawn for it).

``mixup`` (Zhang et al., 2018) is training-side: pairs of the head's inputs (the embeddings, or the
waveforms of the other front ends) and their targets are blended with a weight ~ Beta(alpha, alpha).
Every result is rescaled to its clip's original peak, as the reference augmentation does.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import math
import shutil
import subprocess
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dlcli.kws.augment import AugmentConfig, distort, mix_background, pitch_shift, resample_and_offset

log = logging.getLogger("dlcli.kws")

SAMPLE_RATE = 16000
WAVEFORM = ("paper", "noise", "speed", "pitch", "vtlp", "formant", "room", "band", "codec")
DISTORTIONS = (*WAVEFORM, "specaugment", "none")
REFERENCE = ["paper", "noise"]  # the reference augmentation (augment.Augmenter)


@dataclass
class PerturbConfig:
    distortions: list[str] = field(default_factory=lambda: list(REFERENCE))  # applied in order; see perturb.py
    choose: str = "all"  # all: every named distortion on every clip, in order; one: one of them per clip, at random
    mixup: float = 0.0  # Beta(alpha, alpha) weight of mixup on the head's inputs; 0: off
    speed_range: list[float] = field(default_factory=lambda: [0.9, 1.1])  # tempo and pitch factor
    pitch_semitones: float = 2.0  # pitch shift uniform in +- this
    vtlp_range: list[float] = field(default_factory=lambda: [0.9, 1.1])  # frequency-axis warp factor
    formant_range: list[float] = field(default_factory=lambda: [0.85, 1.15])  # envelope warp factor
    room_rt60: list[float] = field(default_factory=lambda: [0.2, 0.8])  # reverberation time, seconds
    rooms: int = 64  # simulated rooms in the bank
    time_masks: int = 2  # specaugment: masks along time...
    time_mask_frames: int = 10  # ...each up to this many 10 ms frames wide
    frequency_masks: int = 2  # ...and along frequency
    frequency_mask_bands: int = 4  # ...each up to this many mel bands wide

    def __post_init__(self) -> None:
        for name in self.distortions:
            if name not in DISTORTIONS:
                close = difflib.get_close_matches(str(name), DISTORTIONS, n=1)
                hint = f" (did you mean {close[0]}?)" if close else f"; known: {', '.join(DISTORTIONS)}"
                raise ValueError(f"unknown distortion {name!r}{hint}")
        if "none" in self.distortions and len(self.distortions) > 1:
            raise ValueError("distortion 'none' cannot be combined with others")
        if len(set(self.distortions)) != len(self.distortions):
            raise ValueError("a distortion is named twice")
        if self.choose not in ("all", "one"):
            raise ValueError(f"choose must be all or one, not {self.choose!r}")
        if self.mixup < 0:
            raise ValueError("mixup alpha must not be negative")
        for name in ("speed_range", "vtlp_range", "formant_range", "room_rt60"):
            low_high = getattr(self, name)
            if len(low_high) != 2 or not 0 < low_high[0] <= low_high[1]:
                raise ValueError(f"{name} must be [low, high] with 0 < low <= high")
        if self.pitch_semitones < 0 or self.rooms < 1:
            raise ValueError("pitch_semitones must not be negative and rooms must be at least 1")
        if min(self.time_masks, self.time_mask_frames, self.frequency_masks, self.frequency_mask_bands) < 0:
            raise ValueError("specaugment masks and widths must not be negative")

    @property
    def is_reference(self) -> bool:
        """The reference augmentation, nothing added: the original code path runs."""
        return self.distortions == REFERENCE and self.mixup == 0

    @property
    def specaugment(self) -> bool:
        return "specaugment" in self.distortions


# ----------------------------------------------------------------------------- spectral helpers

N_FFT, HOP = 512, 128


def _uniform(low_high, batch: int, device) -> Tensor:
    low, high = low_high
    return low + (high - low) * torch.rand(batch, device=device)


def _stft(x: Tensor) -> tuple[Tensor, Tensor]:
    window = torch.hann_window(N_FFT, device=x.device)
    return torch.stft(x, N_FFT, HOP, window=window, center=True, pad_mode="constant", return_complex=True), window


def _istft(spectrum: Tensor, window: Tensor, length: int) -> Tensor:
    return torch.istft(spectrum, N_FFT, HOP, window=window, center=True, length=length)


def _warp_positions(alpha: Tensor, bins: int, boundary: float = 0.6) -> Tensor:
    """Source bin of every output bin for a piecewise-linear warp f -> alpha f that keeps the Nyquist
    frequency fixed (Jaitly & Hinton, 2013): linear below a boundary, then a straight line to Nyquist."""
    nyquist = bins - 1
    f = torch.arange(bins, device=alpha.device, dtype=torch.float32)[None]  # output frequencies (1, F)
    a = alpha[:, None]
    knee = boundary * nyquist * torch.minimum(a, torch.ones_like(a)) / a  # input frequency of the knee
    out_knee = knee * a
    # invert the forward map: below out_knee, f_in = f / a; above, linear from (out_knee, knee) to (N, N)
    above = knee + (f - out_knee) * (nyquist - knee) / (nyquist - out_knee)
    return torch.where(f <= out_knee, f / a, above)  # (B, F)


def _gather_bins(values: Tensor, positions: Tensor) -> Tensor:
    """Linear interpolation of ``values`` (B, F, N) along F at ``positions`` (B, F)."""
    bins = values.shape[1]
    left = positions.floor().long().clamp(0, bins - 2)
    fraction = (positions - left).clamp(0, 1)[..., None]
    index = left[..., None].expand(-1, -1, values.shape[2])
    return values.gather(1, index) * (1 - fraction) + values.gather(1, index + 1) * fraction


def vtlp(x: Tensor, alpha: Tensor) -> Tensor:
    """Warp the frequency axis of each clip's spectrum by ``alpha`` (B,): > 1 moves energy up."""
    spectrum, window = _stft(x)
    positions = _warp_positions(alpha, spectrum.shape[1])
    magnitude = _gather_bins(spectrum.abs(), positions)
    phase = torch.angle(spectrum)  # the output bins keep their own phase
    return _istft(torch.polar(magnitude, phase), window, x.shape[-1])


def _envelope(log_magnitude: Tensor, lifter: int = 24) -> Tensor:
    """Spectral envelope by cepstral smoothing: the first ``lifter`` quefrencies of the log spectrum
    (24 at 16 kHz keeps structure broader than ~670 Hz, well above the harmonic spacing of most voices)."""
    cepstrum = torch.fft.irfft(log_magnitude, dim=1)  # (B, 2 (F - 1), N)
    keep = torch.zeros(cepstrum.shape[1], device=cepstrum.device)
    keep[:lifter] = 1
    keep[-lifter + 1 :] = 1
    return torch.fft.rfft(cepstrum * keep[None, :, None], dim=1).real  # (B, F, N)


def formant_shift(x: Tensor, alpha: Tensor) -> Tensor:
    """Move the formants by ``alpha`` (B,) and leave the harmonics (the pitch) where they are."""
    spectrum, window = _stft(x)
    log_magnitude = torch.log(spectrum.abs() + 1e-7)
    envelope = _envelope(log_magnitude)
    warped = _gather_bins(envelope, _warp_positions(alpha, spectrum.shape[1], boundary=0.8))
    gain = torch.exp((warped - envelope).clamp(-3, 3))  # at most ~20 dB either way
    return _istft(spectrum * gain, window, x.shape[-1])


def band_limit(x: Tensor, low_hz: Tensor, high_hz: Tensor, transition_hz: float = 100.0) -> Tensor:
    """Keep ``low_hz`` .. ``high_hz`` (B,) of each clip: an FFT mask with raised-cosine edges."""
    length = x.shape[-1]
    spectrum = torch.fft.rfft(x, dim=-1)
    frequency = torch.fft.rfftfreq(length, 1 / SAMPLE_RATE).to(x.device)[None]

    def edge(distance: Tensor) -> Tensor:  # 0 below -transition/2, 1 above +transition/2
        t = (distance / transition_hz + 0.5).clamp(0, 1)
        return 0.5 - 0.5 * torch.cos(math.pi * t)

    low = torch.where(low_hz[:, None] > 0, edge(frequency - low_hz[:, None]), torch.ones_like(frequency))
    mask = low * edge(high_hz[:, None] - frequency)
    return torch.fft.irfft(spectrum * mask, n=length, dim=-1)


def random_band(x: Tensor) -> Tensor:
    """A third each: telephone 300-3400 Hz, an 8 kHz recording (< 3.8 kHz), a cheap microphone."""
    batch = x.shape[0]
    kind = torch.randint(0, 3, (batch,), device=x.device)
    low = torch.where(kind == 0, 300.0, torch.where(kind == 1, 0.0, 80 + 170 * torch.rand(batch, device=x.device)))
    high = torch.where(
        kind == 0, 3400.0, torch.where(kind == 1, 3800.0, 4500 + 3000 * torch.rand(batch, device=x.device))
    )
    return band_limit(x, low.float(), high.float())


def mu_law(x: Tensor, bits: int = 8) -> Tensor:
    """G.711-style mu-law companding and ``bits``-bit quantisation of clips scaled to their peak."""
    mu = 2**bits - 1
    peak = x.abs().amax(-1, keepdim=True).clamp_min(1e-8)
    y = x / peak
    encoded = torch.sign(y) * torch.log1p(mu * y.abs()) / math.log1p(mu)
    quantised = torch.round((encoded + 1) / 2 * mu) / mu * 2 - 1
    return torch.sign(quantised) * torch.expm1(quantised.abs() * math.log1p(mu)) / mu * peak


def gsm(x: Tensor) -> Tensor | None:
    """GSM 06.10 full-rate coding at 8 kHz and back, through sox; None when sox cannot do it."""
    sox = shutil.which("sox")
    if sox is None:
        return None
    raw = ["-t", "raw", "-r", str(SAMPLE_RATE), "-e", "signed", "-b", "16", "-c", "1"]
    out = []
    for clip in x.detach().cpu().numpy():
        peak = max(float(np.abs(clip).max()), 1e-8)
        pcm = np.clip(clip / peak * 32000, -32768, 32767).astype("<i2").tobytes()
        try:
            coded = subprocess.run([sox, *raw, "-", "-t", "gsm", "-r", "8000", "-"], input=pcm, capture_output=True, check=True).stdout  # fmt: skip
            decoded = subprocess.run([sox, "-t", "gsm", "-r", "8000", "-", *raw, "-"], input=coded, capture_output=True, check=True).stdout  # fmt: skip
        except (OSError, subprocess.CalledProcessError):
            return None
        samples = np.frombuffer(decoded, dtype="<i2").astype(np.float32) / 32000 * peak
        samples = np.pad(samples, (0, max(0, len(clip) - len(samples))))[: len(clip)]
        out.append(samples)
    return torch.from_numpy(np.stack(out)).to(x.device, x.dtype)


def random_codec(x: Tensor) -> Tensor:
    """Half mu-law 8-bit, half GSM (mu-law for all when sox cannot code GSM)."""
    coded = mu_law(x)
    use_gsm = torch.rand(x.shape[0], device=x.device) < 0.5
    if use_gsm.any():
        via_sox = gsm(x[use_gsm])
        if via_sox is not None:
            coded[use_gsm] = via_sox
    return coded


# ----------------------------------------------------------------------------- rooms


def _exponential_rir(rng: np.random.Generator, rt60: float, length: int) -> np.ndarray:
    """A direct path and a noise tail decaying 60 dB in ``rt60`` s (the classic synthetic RIR)."""
    t = np.arange(length) / SAMPLE_RATE
    delay = int(rng.integers(16, 80))  # first reflections 1-5 ms after the direct sound
    tail = rng.standard_normal(length) * np.exp(-6.908 * t / rt60)
    tail[:delay] = 0
    direct_to_reverberant = 10 ** (rng.uniform(-3, 9) / 10)  # energy ratio, dB
    tail *= np.sqrt(1 / (direct_to_reverberant * np.sum(tail**2) + 1e-12))
    tail[0] = 1.0
    return tail


def _shoebox_rir(rng: np.random.Generator, rt60: float, length: int) -> np.ndarray | None:
    """Image-source RIR of a random shoebox room (pyroomacoustics); None when it is not installed."""
    try:
        import pyroomacoustics as pra
    except ImportError:
        return None
    size = np.array([rng.uniform(3, 10), rng.uniform(3, 8), rng.uniform(2.4, 4)])
    try:
        absorption, max_order = pra.inverse_sabine(rt60, size)
    except ValueError:  # a room too large for that reverberation time
        absorption, max_order = 0.9, 2
    # reflections up to order 40: the tails of the longest reverberation times hold, a bank of 64 rooms takes seconds
    room = pra.ShoeBox(size, fs=SAMPLE_RATE, materials=pra.Material(absorption), max_order=min(max_order, 40))
    margin = 0.5
    room.add_source(rng.uniform(margin, size - margin))
    room.add_microphone(rng.uniform(margin, size - margin))
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], dtype=np.float64)
    start = int(np.argmax(np.abs(rir)))  # the direct path first: the speech keeps its place in the clip
    rir = rir[start : start + length]
    return rir / (np.abs(rir).max() + 1e-12)


def room_bank(config: PerturbConfig, seed: int, length: int = SAMPLE_RATE // 2) -> Tensor:
    """``config.rooms`` impulse responses (rooms, length), seeded: the same seed, the same rooms."""
    rng = np.random.default_rng(seed)
    responses, simulated = [], True
    for _ in range(config.rooms):
        rt60 = rng.uniform(*config.room_rt60)
        rir = _shoebox_rir(rng, rt60, length) if simulated else None
        if rir is None:
            if simulated:
                log.info("pyroomacoustics is not installed: rooms are exponential noise tails (dlcli[rooms])")
            simulated = False
            rir = _exponential_rir(rng, rt60, length)
        responses.append(np.pad(rir, (0, length - len(rir))))
    return torch.from_numpy(np.stack(responses)).float()


def reverberate(x: Tensor, responses: Tensor) -> Tensor:
    """Convolve each clip (B, T) with its impulse response (B, L), keep the first T samples."""
    length = x.shape[-1]
    size = 1 << (length + responses.shape[-1] - 1).bit_length()
    wet = torch.fft.irfft(torch.fft.rfft(x, size) * torch.fft.rfft(responses, size), size)
    return wet[:, :length]


# ----------------------------------------------------------------------------- specaugment


def spec_masks(features: Tensor, config: PerturbConfig, time_dim: int, generator: torch.Generator | None = None):
    """SpecAugment on a batch of features: ``config.time_masks`` masks along ``time_dim`` and
    ``config.frequency_masks`` along the other axis, filled with each clip's mean value."""
    batch = features.shape[0]
    frequency_dim = 3 - time_dim  # features are (B, a, b)
    out = features.clone()
    fill = features.mean(dim=(1, 2), keepdim=True)
    for dim, count, width in (
        (time_dim, config.time_masks, config.time_mask_frames),
        (frequency_dim, config.frequency_masks, config.frequency_mask_bands),
    ):
        size = features.shape[dim]
        positions = torch.arange(size, device=features.device)[None]
        for _ in range(count):
            widths = torch.randint(0, width + 1, (batch, 1), generator=generator).to(features.device)
            starts = (torch.rand(batch, 1, generator=generator).to(features.device) * (size - widths + 1)).long()
            masked = (positions >= starts) & (positions < starts + widths)  # (B, size)
            masked = masked[:, :, None] if dim == 1 else masked[:, None, :]
            out = torch.where(masked, fill, out)
    return out


def add_specaugment(model, config: PerturbConfig) -> bool:
    """Mask the log-mel of a model's LogMelFrontEnd while it trains (a forward hook); False if it has none."""
    from dlcli.kws.model import LogMelFrontEnd

    found = False
    for module in model.modules():
        if isinstance(module, LogMelFrontEnd):
            module.register_forward_hook(lambda m, i, out: spec_masks(out, config, time_dim=2) if m.training else None)
            found = True
    return found


def masked_embeddings(clips: Tensor, config: PerturbConfig, seed: int, *, show: bool = False) -> Tensor:
    """Embeddings of int16 clips with SpecAugment masks on their 32 mel bands, between the front end's
    two ONNX graphs; cached by block like ``embedding.cached_embeddings`` (the key adds the masks' seed
    and sizes), so a copy is embedded once."""
    from dlcli.console import progress
    from dlcli.files import atomic_path
    from dlcli.kws.embedding import CACHE_BLOCK, CONTEXT, cache_folder, speech_embedding

    array = clips.numpy() if isinstance(clips, Tensor) else np.asarray(clips)
    front_end = speech_embedding()
    settings = f"{config.time_masks},{config.time_mask_frames},{config.frequency_masks},{config.frequency_mask_bands}"
    parts = []
    with progress(disable=not show, transient=True) as bar:
        task = bar.add_task("embedding masked copies", total=len(array), info="")
        for start in range(0, len(array), CACHE_BLOCK):
            block = np.ascontiguousarray(array[start : start + CACHE_BLOCK])
            digest = hashlib.sha1(block.tobytes())
            digest.update(f"{block.shape}{block.dtype}{front_end.fingerprint}specaugment{settings}:{seed}".encode())
            path = cache_folder() / f"{digest.hexdigest()}.npy"
            features = np.load(path) if path.is_file() else None
            if features is None:
                generator = torch.Generator().manual_seed(int(digest.hexdigest()[:12], 16))
                padded = np.pad(block.astype(np.float32) / 32768.0, ((0, 0), (CONTEXT, CONTEXT)))
                embedded = []
                for i in range(0, len(padded), 64):
                    mel = torch.from_numpy(front_end.mel(padded[i : i + 64]))  # (B, frames, 32)
                    masked = spec_masks(mel, config, time_dim=1, generator=generator).numpy()
                    embedded.append(front_end.embed(masked))
                features = np.concatenate(embedded).astype(np.float32)
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(path) as temporary, open(temporary, "wb") as handle:
                    np.save(handle, features)
            parts.append(features)
            bar.advance(task, len(block))
    return torch.from_numpy(np.concatenate(parts))


# ----------------------------------------------------------------------------- the perturber


def mixup(inputs: Tensor, alpha: float) -> tuple[Tensor, Tensor, float]:
    """Blend every input with a random partner: (mixed inputs, partner order, weight of the own input)."""
    weight = float(np.random.default_rng(int(torch.randint(0, 2**31, (1,)))).beta(alpha, alpha))
    order = torch.randperm(inputs.shape[0], device=inputs.device)
    return weight * inputs + (1 - weight) * inputs[order], order, weight


class Perturber:
    """The named waveform distortions, in order, on a batch (B, T) of float clips at 16 kHz."""

    def __init__(self, config: PerturbConfig, augment: AugmentConfig, noise: Tensor | None = None, seed: int = 0):
        self.config, self.augment = config, augment
        self.noise = noise  # 1-D float tensor of concatenated background recordings, or None
        self.rooms = room_bank(config, seed) if "room" in config.distortions else None
        if "noise" in config.distortions and noise is None:
            log.warning("distortion 'noise' needs background recordings (--background): it is left out")

    def to(self, device: torch.device) -> Perturber:
        if self.noise is not None:
            self.noise = self.noise.to(device)
        if self.rooms is not None:
            self.rooms = self.rooms.to(device)
        return self

    def __call__(self, x: Tensor) -> Tensor:
        """The distortions of a batch; ``self.masked`` (B,) then says which clips SpecAugment is for."""
        x = x.float()
        peak = x.abs().amax(-1, keepdim=True).clamp_min(1e-8)
        names = self.config.distortions
        self.masked = torch.full((x.shape[0],), self.config.specaugment, device=x.device)
        if self.config.choose == "one":
            x = x.clone()  # rows are replaced in place
            pick = torch.randint(0, len(names), (x.shape[0],), device=x.device)
            for index, name in enumerate(names):
                rows = pick == index
                if rows.any():
                    x[rows] = self._apply(name, x[rows])
            self.masked = (pick == names.index("specaugment")) if self.config.specaugment else self.masked
        else:
            for name in names:
                x = self._apply(name, x)
        x = torch.nan_to_num(x)
        return x * (peak / x.abs().amax(-1, keepdim=True).clamp_min(1e-8))

    def _apply(self, name: str, x: Tensor) -> Tensor:
        batch, device = x.shape[0], x.device
        if name == "paper":
            x = distort(x, self.augment)
        elif name == "noise" and self.noise is not None:
            x = mix_background(x, self.noise, self.augment)
        elif name == "speed":
            faster = _uniform(self.config.speed_range, batch, device)  # > 1: shorter and higher
            x = resample_and_offset(x, 1 / faster, torch.zeros(batch, device=device))
        elif name == "pitch":
            x = pitch_shift(x, self.config.pitch_semitones * (2 * torch.rand(batch, device=device) - 1))
        elif name == "vtlp":
            x = vtlp(x, _uniform(self.config.vtlp_range, batch, device))
        elif name == "formant":
            x = formant_shift(x, _uniform(self.config.formant_range, batch, device))
        elif name == "room":
            rooms = self.rooms.to(device)  # the bank follows the batch (the engine moves only the noise)
            x = reverberate(x, rooms[torch.randint(0, len(rooms), (batch,), device=device)])
        elif name == "band":
            x = random_band(x)
        elif name == "codec":
            x = random_codec(x)
        return x


def perturbed_copies(clips: Tensor, targets: Tensor, perturber: Perturber, copies: int, seed: int):
    """``copies`` perturbed versions of every int16 clip at its own peak, appended after the originals
    (as the reference's offline mode); the global torch generator is restored afterwards."""
    if copies == 0:
        return clips, targets
    state = torch.get_rng_state()
    torch.manual_seed(seed + 7)
    made, masked = [], []
    for _ in range(copies):
        for start in range(0, len(clips), 256):
            batch = clips[start : start + 256].float() / 32768.0
            distorted = perturber(batch) * 32768.0  # at the original's peak: 'none' copies are exact repeats
            made.append(distorted.round().clamp(-32768, 32767).to(torch.int16))
            masked.append(perturber.masked)
    torch.set_rng_state(state)
    perturber.copies_masked = torch.cat(masked)  # which copies SpecAugment is for (embed_copies)
    return torch.cat([clips, *made]), torch.cat([targets] + [targets] * copies)


def embed_copies(copies: Tensor, perturber: Perturber, seed: int, *, show: bool = False) -> Tensor:
    """Embeddings of the offline copies: through the SpecAugment masks for the copies they are for."""
    from dlcli.kws.embedding import cached_embeddings

    if not perturber.config.specaugment:
        return cached_embeddings(copies, show=show, what="embedding perturbed copies")
    flags = perturber.copies_masked.cpu()
    if flags.all():
        return masked_embeddings(copies, perturber.config, seed, show=show)
    out = cached_embeddings(copies[~flags], show=show, what="embedding perturbed copies")
    out = torch.zeros((len(copies), *out.shape[1:]), dtype=out.dtype).index_put_((~flags,), out)
    if flags.any():
        out[flags] = masked_embeddings(copies[flags], perturber.config, seed, show=show)
    return out


def mixup_loss(logits: Tensor, target: Tensor, order: Tensor, weight: float) -> Tensor:
    return weight * F.cross_entropy(logits, target) + (1 - weight) * F.cross_entropy(logits, target[order])
