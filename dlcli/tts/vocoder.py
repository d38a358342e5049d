"""Griffin-Lim vocoder in batched torch: log-mel -> magnitude -> waveform.

Mel magnitudes go back to linear frequency through the filterbank's pseudo-inverse
(clipped at zero), are sharpened by a power > 1 (Tacotron's trick against Griffin-Lim's
"phasey" sound), and the phase is found by fast Griffin-Lim (Perraudin et al., 2013:
momentum 0.99), which needs about a third of the classic algorithm's iterations. All of
it runs in fp32 on the model's device, several utterances at once.
"""

from __future__ import annotations

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
