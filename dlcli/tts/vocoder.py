"""Griffin-Lim vocoder in batched torch: log-mel -> magnitude -> waveform.

Mel magnitudes go back to linear frequency through the filterbank's pseudo-inverse
(clipped at zero), are sharpened by a power > 1 (Tacotron's trick against Griffin-Lim's
"phasey" sound), and the phase is found by fast Griffin-Lim (Perraudin et al., 2013:
momentum 0.99), which needs about a third of the classic algorithm's iterations. All of
it runs in fp32 on the model's device, several utterances at once.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from dlcli.audio.features import mel_filterbank
from dlcli.tts.data import AudioConfig


class GriffinLim:
    def __init__(
        self, audio: AudioConfig, iterations: int = 32, power: float = 1.3, momentum: float = 0.99, device="cpu"
    ):
        self.audio = audio
        self.iterations = iterations
        self.power = power
        self.momentum = momentum
        filters = mel_filterbank(audio.sample_rate, audio.n_fft, audio.n_mels, audio.f_min, audio.f_max)
        self.inverse_filters = torch.linalg.pinv(filters).to(device)  # (n_fft // 2 + 1, n_mels)
        self.window = torch.hann_window(audio.win_length, device=device)

    def magnitudes(self, log_mel: Tensor) -> Tensor:
        """(batch, frames, n_mels) natural-log mel -> (batch, n_fft // 2 + 1, frames) linear magnitudes."""
        mel = log_mel.float().exp().transpose(1, 2)
        linear = torch.matmul(self.inverse_filters, mel).clamp_min(1e-8)
        return linear.pow(self.power)

    def _stft(self, x: Tensor) -> Tensor:
        a = self.audio
        return torch.stft(x, a.n_fft, a.hop_length, a.win_length, self.window, center=True, return_complex=True)

    def _istft(self, spectrum: Tensor, length: int) -> Tensor:
        a = self.audio
        return torch.istft(spectrum, a.n_fft, a.hop_length, a.win_length, self.window, center=True, length=length)

    @torch.no_grad()
    def __call__(self, log_mel: Tensor, seed: int = 0) -> Tensor:
        """Waveforms (batch, frames * hop) scaled to a -1..1 peak of 0.9 (all frames; trim per item after)."""
        frames = log_mel.shape[1]
        shortest = 2 * self.audio.n_fft // self.audio.hop_length + 1  # the STFT's reflect padding needs this much
        if frames < shortest:  # a very short output: pad with silence, cut it off again below
            silence = torch.full_like(log_mel[:, :1], torch.log(torch.tensor(self.audio.log_floor)).item())
            log_mel = torch.cat([log_mel, silence.expand(-1, shortest - frames, -1)], 1)
        with torch.autocast(device_type=log_mel.device.type, enabled=False):
            magnitude = self.magnitudes(log_mel)
            length = (magnitude.shape[2] - 1) * self.audio.hop_length
            generator = torch.Generator(device="cpu").manual_seed(seed)
            phase = torch.rand(magnitude.shape, generator=generator).to(magnitude.device) * 2 * torch.pi
            angles = torch.polar(torch.ones_like(magnitude), phase)
            previous = torch.zeros_like(angles)
            for _ in range(self.iterations):
                rebuilt = self._stft(self._istft(magnitude * angles, length))
                accelerated = rebuilt - (self.momentum / (1 + self.momentum)) * previous
                previous = rebuilt
                angles = accelerated / accelerated.abs().clamp_min(1e-8)
            audio = self._istft(magnitude * angles, length)[:, : max(1, (frames - 1) * self.audio.hop_length)]
            peak = audio.abs().amax(dim=1, keepdim=True).clamp_min(1e-6)
            return audio / peak * 0.9


class SourceFilter:
    """Source-filter vocoder driven by f0: an excitation (pulses where voiced, noise elsewhere) shaped by the mel.

    The mel's magnitudes (through the filterbank's pseudo-inverse) are the filter; the harmonics
    come from the excitation at the given f0, not from the mel, so a blurred mel still gives a
    voice with clear harmonics (the idea behind WORLD's and DDSP's harmonic-plus-noise
    synthesis). One STFT and one inverse STFT: no iterations."""

    def __init__(self, audio: AudioConfig, noise: float = 0.15, device="cpu"):
        self.audio = audio
        self.noise = noise
        filters = mel_filterbank(audio.sample_rate, audio.n_fft, audio.n_mels, audio.f_min, audio.f_max)
        self.inverse_filters = torch.linalg.pinv(filters).to(device)
        self.window = torch.hann_window(audio.win_length, device=device)

    def excitation(self, f0: Tensor, voiced: Tensor, length: int, generator: torch.Generator) -> Tensor:
        """(frames,) f0 in Hz and voicing 0..1 -> (length,) excitation with a flat spectrum on average."""
        a = self.audio
        hop = a.hop_length
        positions = (torch.arange(length, dtype=torch.float32) + 0.5) / hop  # frame coordinate of each sample
        frames = torch.arange(len(f0), dtype=torch.float32)
        f0_samples = torch.from_numpy(np.interp(positions.numpy(), frames.numpy(), f0.float().numpy())).float()
        voicing = torch.from_numpy(np.interp(positions.numpy(), frames.numpy(), voiced.float().numpy())).float()
        phase = torch.cumsum(f0_samples / a.sample_rate, 0)  # cycles
        pulses = (torch.floor(phase[1:]) > torch.floor(phase[:-1])).float()
        pulses = torch.cat([pulses.new_zeros(1), pulses]) * torch.sqrt(a.sample_rate / f0_samples.clamp_min(40))
        noise = torch.randn(length, generator=generator)
        return voicing * (pulses + self.noise * noise) + (1 - voicing) * noise

    @torch.no_grad()
    def __call__(self, log_mel: Tensor, f0: Tensor, voiced: Tensor, seed: int = 0) -> Tensor:
        """(1, frames, n_mels) log-mel, (frames,) f0 Hz and voicing -> (1, samples) waveform, peak 0.9."""
        a = self.audio
        frames = log_mel.shape[1]
        shortest = 2 * a.n_fft // a.hop_length + 1  # the STFT's reflect padding needs this much
        if frames < shortest:  # a very short output: pad with silence, cut it off again at the end
            pad = shortest - frames
            silence = torch.full_like(log_mel[:, :1], float(np.log(a.log_floor))).expand(-1, pad, -1)
            wave = self(
                torch.cat([log_mel, silence], 1),
                torch.cat([f0, f0.new_zeros(pad)]),
                torch.cat([voiced, voiced.new_zeros(pad)]),
                seed,
            )
            return wave[:, : max(1, (frames - 1) * a.hop_length)]
        length = (frames - 1) * a.hop_length
        generator = torch.Generator().manual_seed(seed)
        source = self.excitation(f0[:frames], voiced[:frames], length, generator)
        spectrum = torch.stft(
            source, a.n_fft, a.hop_length, a.win_length, self.window, center=True, return_complex=True
        )
        # whiten each frame of the excitation, then give it the mel's magnitudes
        level = spectrum.abs().pow(2).mean(0, keepdim=True).sqrt().clamp_min(1e-6)
        envelope = torch.matmul(self.inverse_filters, log_mel[0].float().exp().T).clamp_min(0)
        count = min(spectrum.shape[1], envelope.shape[1])
        shaped = spectrum[:, :count] / level[:, :count] * envelope[:, :count]
        audio = torch.istft(shaped, a.n_fft, a.hop_length, a.win_length, self.window, center=True, length=length)
        return (audio / audio.abs().max().clamp_min(1e-6) * 0.9)[None]
