"""Glow-style normalising flows over 1-D signals (Kingma & Dhariwal, 2018), with exact inverses.

A vector is read as a short 1-D signal ``(channels, length)``; each step is actnorm ->
invertible 1x1 convolution (LU-parametrised, so its log-determinant is a sum of logs)
-> affine coupling whose scale and shift come from a small 1-D convolutional network.
Every layer returns its log-determinant; log-determinants and the LU products are
computed in fp32 whatever the autocast context, since low precision breaks invertibility.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

_HALF_LOG_TWO_PI = 0.5 * math.log(2 * math.pi)


def _at_least_fp32(x: Tensor) -> Tensor:
    return x if x.dtype == torch.float64 else x.float()


class ActNorm1d(nn.Module):
    """Per-channel affine map initialised from the first batch to zero mean, unit variance."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1))
        self.register_buffer("initialised", torch.tensor(False))

    @torch.no_grad()
    def _initialise(self, x: Tensor) -> None:
        mean = x.mean(dim=(0, 2), keepdim=True)
        std = x.std(dim=(0, 2), keepdim=True, unbiased=False).clamp_min(1e-6)
        self.bias.copy_(-mean)
        self.log_scale.copy_(-std.log())
        self.initialised.fill_(True)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.training and not bool(self.initialised):
            self._initialise(x)
        y = (x + self.bias) * self.log_scale.exp()
        logdet = self.log_scale.sum() * x.shape[2]
        return y, logdet.expand(x.shape[0])

    def inverse(self, y: Tensor) -> Tensor:
        return y * (-self.log_scale).exp() - self.bias


class InvertibleConv1x1(nn.Module):
    """A learned channel mixing W = P L (U + diag(s)), initialised to a random rotation."""

    def __init__(self, channels: int, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        rotation, _ = torch.linalg.qr(torch.randn(channels, channels, generator=generator))
        permutation, lower, upper = torch.linalg.lu(rotation)
        diagonal = torch.diagonal(upper)
        self.register_buffer("permutation", permutation)
        self.register_buffer("sign", torch.sign(diagonal))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_diagonal = nn.Parameter(diagonal.abs().log())

    def weight(self) -> Tensor:
        eye = torch.eye(self.lower.shape[0], device=self.lower.device)
        lower = self.lower * self.lower_mask + eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign * self.log_diagonal.exp())
        return self.permutation @ lower @ upper

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = _at_least_fp32(x)
            y = torch.einsum("ij,bjl->bil", self.weight().to(x.dtype), x)
            logdet = self.log_diagonal.sum() * x.shape[2]
        return y, logdet.expand(x.shape[0])

    def inverse(self, y: Tensor) -> Tensor:
        with torch.autocast(device_type=y.device.type, enabled=False):
            weight = self.weight().double()
            return torch.einsum("ij,bjl->bil", torch.linalg.inv(weight), y.double()).to(y.dtype)


class AffineCoupling(nn.Module):
    """Half of the channels scale and shift the other half: y_b = (x_b + t(x_a)) * s(x_a)."""

    def __init__(self, channels: int, hidden: int, kernel_size: int = 3):
        super().__init__()
        if channels % 2:
            raise ValueError("affine coupling needs an even number of channels")
        half = channels // 2
        padding = kernel_size // 2
        self.net = nn.Sequential(
            nn.Conv1d(half, hidden, kernel_size, padding=padding),
            nn.ReLU(),
            nn.Conv1d(hidden, hidden, 1),
            nn.ReLU(),
            nn.Conv1d(hidden, channels, kernel_size, padding=padding),
        )
        nn.init.zeros_(self.net[-1].weight)  # start as the identity, as Glow does
        nn.init.zeros_(self.net[-1].bias)

    def _scale_shift(self, x_a: Tensor) -> tuple[Tensor, Tensor]:
        h = _at_least_fp32(self.net(x_a))
        shift, raw_scale = h[:, 0::2], h[:, 1::2]
        scale = torch.sigmoid(raw_scale + 2.0)  # bounded in (0, 1): Glow's stable choice
        return scale, shift

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x_a, x_b = x.chunk(2, dim=1)
        scale, shift = self._scale_shift(x_a)
        y_b = (x_b + shift) * scale
        return torch.cat([x_a, y_b], dim=1), scale.log().flatten(1).sum(1)

    def inverse(self, y: Tensor) -> Tensor:
        y_a, y_b = y.chunk(2, dim=1)
        scale, shift = self._scale_shift(y_a)
        return torch.cat([y_a, y_b / scale - shift], dim=1)


class FlowStep(nn.Module):
    def __init__(self, channels: int, hidden: int, kernel_size: int = 3, seed: int = 0):
        super().__init__()
        self.layers = nn.ModuleList(
            [ActNorm1d(channels), InvertibleConv1x1(channels, seed), AffineCoupling(channels, hidden, kernel_size)]
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        total = x.new_zeros(x.shape[0], dtype=torch.float32)
        for layer in self.layers:
            x, logdet = layer(x)
            total = total + logdet
        return x, total

    def inverse(self, y: Tensor) -> Tensor:
        for layer in reversed(self.layers):
            y = layer.inverse(y)
        return y


class Glow1d(nn.Module):
    """Vectors of ``channels * length`` values <-> isotropic Gaussian latents of the same size."""

    def __init__(self, channels: int, length: int, steps: int = 8, hidden: int = 128, kernel_size: int = 3):
        super().__init__()
        self.channels, self.length = channels, length
        self.steps = nn.ModuleList([FlowStep(channels, hidden, kernel_size, seed=i) for i in range(steps)])

    @property
    def features(self) -> int:
        return self.channels * self.length

    def _as_signal(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], self.length, self.channels).transpose(1, 2)  # (batch, channels, length)

    def _as_vector(self, x: Tensor) -> Tensor:
        return x.transpose(1, 2).reshape(x.shape[0], self.features)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(batch, features) -> latents (batch, features), log|det dz/dx| (batch,)."""
        h = self._as_signal(_at_least_fp32(x))
        total = h.new_zeros(h.shape[0])
        for index, step in enumerate(self.steps):
            h, logdet = step(h)
            total = total + logdet
            if index % 2 == 1:
                h = h.flip(2)  # let every position condition every other one across steps
        return self._as_vector(h), total

    def inverse(self, z: Tensor) -> Tensor:
        h = self._as_signal(_at_least_fp32(z))
        for index in reversed(range(len(self.steps))):
            if index % 2 == 1:
                h = h.flip(2)
            h = self.steps[index].inverse(h)
        return self._as_vector(h)

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log-density of x under the flow (nats per vector)."""
        z, logdet = self(x)
        return -0.5 * z.pow(2).sum(1) - _HALF_LOG_TWO_PI * z.shape[1] + logdet
