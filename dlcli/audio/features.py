"""Spectral features computed batched in torch (on the GPU when the tensors are there).

The STFT and the log run in fp32 even under autocast: low-precision spectra lose the
quiet bins that speech models need.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None) -> Tensor:
    """Slaney-style mel filters (librosa's default), shape (n_mels, n_fft // 2 + 1)."""
    import librosa

    filters = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max)
    return torch.from_numpy(filters).float()


class LogMel(nn.Module):
    """Waveforms (batch, samples) -> log-mel spectrogram (batch, n_mels, frames).

    Frames are centred (``center=True``, reflect padding) as librosa's, so features
    match ``librosa.feature.melspectrogram`` followed by a log.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 512,
        win_length: int | None = 400,
        hop_length: int = 160,
        n_mels: int = 40,
        f_min: float = 0.0,
        f_max: float | None = None,
        power: float = 2.0,
        log_floor: float = 1e-6,
    ):
        super().__init__()
        self.n_fft = n_fft
        self.win_length = win_length or n_fft
        self.hop_length = hop_length
        self.power = power
        self.log_floor = log_floor
        self.register_buffer("window", torch.hann_window(self.win_length), persistent=False)
        self.register_buffer("filters", mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max), persistent=False)

    def power_mel(self, waveforms: Tensor) -> Tensor:
        squeeze = waveforms.dim() == 1
        if squeeze:
            waveforms = waveforms.unsqueeze(0)
        with torch.autocast(device_type=waveforms.device.type, enabled=False):
            spectrum = torch.stft(
                waveforms.float(),
                n_fft=self.n_fft,
                hop_length=self.hop_length,
                win_length=self.win_length,
                window=self.window,
                center=True,
                pad_mode="reflect",
                return_complex=True,
            )  # (batch, n_fft // 2 + 1, frames)
            magnitude = spectrum.abs()
            if self.power != 1.0:
                magnitude = magnitude.pow(self.power)
            mel = torch.matmul(self.filters, magnitude)  # (batch, n_mels, frames)
        return mel.squeeze(0) if squeeze else mel

    def forward(self, waveforms: Tensor) -> Tensor:
        with torch.autocast(device_type=waveforms.device.type, enabled=False):
            return torch.log(self.power_mel(waveforms).clamp_min(self.log_floor))
