"""Xception-1d: a raw-waveform CNN of depthwise-separable 1-D convolutions (dissertation ch. 6).

The reference network (Vallés-Pérez et al., ESANN 2021; after Chollet's Xception, 2017)
takes 1 s of 16 kHz audio, shape (batch, 16000), and has 37 layers and 12 residual
blocks, about 21.5M parameters for 3 classes and 23.6M for 35. There is no batch norm:
instance norm after every convolution and layer norm before the classifier, so a clip's
prediction never depends on the other clips in its batch.

``width`` scales every channel count and ``middle_blocks`` the depth; ``pooling="mean"``
reads a global average instead of the flattened (2048 x 32) map. The small variant
(``small_config``) keeps the Xception blocks but feeds them 40 log-mel bands every 10 ms
instead of raw samples, the front end of the compact keyword spotters (DS-CNN, Zhang
et al. 2017; MatchboxNet, Majumdar & Ginsburg 2020): tens of thousands of parameters and
a few million multiply-accumulates, so it trains on a CPU and runs on devices. Every
variant takes raw waveforms, so the features travel inside the model and its exports.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dlcli.nn.activations import make_activation
from dlcli.nn.names import canonical_name

# ----------------------------------------------------------------------------- layers


class SeparableConv1d(nn.Module):
    """Depthwise convolution (one filter per channel) then a 1x1 pointwise convolution."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1):
        super().__init__()
        self.depthwise = nn.Conv1d(
            in_channels, in_channels, kernel_size, stride=stride, padding=kernel_size // 2, groups=in_channels
        )
        self.pointwise = nn.Conv1d(in_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.depthwise(x)
        if torch.jit.is_tracing():
            # export the 1x1 convolution as a MatMul whose second input is the weight, the form
            # onnxruntime's dynamic quantiser turns into an int8 MatMulInteger (a constant first input stays float)
            weight = self.pointwise.weight.squeeze(-1).t()  # (C_in, C_out)
            return (torch.matmul(x.transpose(1, 2), weight) + self.pointwise.bias).transpose(1, 2)
        return self.pointwise(x)


class XceptionBlock(nn.Module):
    """n_mod x [activation -> instance norm -> separable conv], average pooling, residual path.

    The skip path is a strided 1x1 convolution when the shape changes, else the identity.
    """

    def __init__(
        self, in_channels: int, out_channels: int, modules: int, activation: str, stride: int = 1, kernel_size: int = 3
    ):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(modules):
            layers += [
                make_activation(activation),
                nn.InstanceNorm1d(channels),
                SeparableConv1d(channels, out_channels, kernel_size),
            ]
            channels = out_channels
        if stride > 1:
            layers.append(nn.AvgPool1d(stride, stride, ceil_mode=True))
        self.main = nn.Sequential(*layers)
        changes_shape = stride > 1 or in_channels != out_channels
        self.skip = nn.Conv1d(in_channels, out_channels, 1, stride=stride) if changes_shape else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.main(x) + self.skip(x)


class PeakNormalize(nn.Module):
    """Scale each clip to a peak of 1 (the reference preprocessing), inside the model so exports keep it."""

    def forward(self, x: Tensor) -> Tensor:
        peak = x.abs().amax(dim=-1, keepdim=True)
        return x / peak.clamp_min(1e-6)


class LogMelFrontEnd(nn.Module):
    """Waveforms (B, T) -> log-mel bands (B, n_mels, frames): 25 ms Hann windows every 10 ms.

    Eager mode uses the FFT; export traces the same transform as a convolution with a fixed
    DFT basis (ONNX Runtime has no STFT the exporters map to), equal to float rounding.
    """

    def __init__(self, sample_rate: int = 16000, n_mels: int = 40, window: int = 400, hop: int = 160):
        super().__init__()
        from dlcli.audio.features import mel_filterbank

        self.window_length, self.hop = window, hop
        bins = window // 2 + 1
        self.register_buffer("window", torch.hann_window(window), persistent=False)
        self.register_buffer("filters", mel_filterbank(sample_rate, window, n_mels), persistent=False)
        n, k = torch.arange(window, dtype=torch.float64), torch.arange(bins, dtype=torch.float64)
        angle = 2 * math.pi * k[:, None] * n[None, :] / window
        window64 = torch.hann_window(window, dtype=torch.float64)
        basis = torch.cat([torch.cos(angle), -torch.sin(angle)]) * window64  # (2 x bins, window)
        self.register_buffer("basis", basis.float()[:, None, :], persistent=False)
        self.pitch_factors: Tensor | None = None  # (B,) training-time pitch shifts, set by ``pitch_warp``

    def power(self, x: Tensor) -> Tensor:
        """|STFT|^2, (B, bins, frames), zero-padded by half a window at both ends."""
        if torch.jit.is_tracing():
            frames = torch.nn.functional.conv1d(
                torch.nn.functional.pad(x[:, None], (self.window_length // 2, self.window_length // 2)),
                self.basis,
                stride=self.hop,
            )  # (B, 2 x bins, frames)
            real, imaginary = frames.chunk(2, dim=1)
            return real * real + imaginary * imaginary
        spectrum = torch.stft(
            x, self.window_length, self.hop, window=self.window, center=True, pad_mode="constant", return_complex=True
        )
        return spectrum.real.square() + spectrum.imag.square()

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(x.device.type, enabled=False):
            filters = self.filters  # (n_mels, bins)
            if self.pitch_factors is not None:  # training-time pitch shifts: (B, n_mels, bins)
                from dlcli.kws.augment import warp_filterbank

                filters = warp_filterbank(filters, self.pitch_factors.to(filters.device))
            mel = torch.matmul(filters, self.power(x.float()))  # (B, n_mels, frames)
            return torch.log(mel + 1e-6)


@contextlib.contextmanager
def pitch_warp(model: nn.Module, factors: Tensor | None) -> Iterator[bool]:
    """Within the block, the model's log-mel front end pitch-shifts clip i by ``factors[i]``.

    The cheap form of the augmentation's pitch shift (``augment.warp_filterbank``); yields
    whether the model has such a front end (a raw-waveform model cannot be warped).
    """
    front_ends = [m for m in model.modules() if isinstance(m, LogMelFrontEnd)]
    for front_end in front_ends:
        front_end.pitch_factors = factors
    try:
        yield bool(front_ends)
    finally:
        for front_end in front_ends:
            front_end.pitch_factors = None


def has_logmel_frontend(model: nn.Module) -> bool:
    return any(isinstance(m, LogMelFrontEnd) for m in model.modules())


# ----------------------------------------------------------------------------- config


@dataclass
class XceptionConfig:
    classes: int = 35  # outputs of the classifier
    activation: str = "relu"  # any registered activation (dlcli activations list)
    width: float = 1.0  # multiplier on every channel count (1.0: the reference 32..2048)
    middle_blocks: int = 8  # 728-channel residual blocks of the middle flow
    pooling: str = "flatten"  # flatten (reference: the whole 2048 x 32 map) | mean (global average)
    dropout: float = 0.75  # before the classifier
    samples: int = 16000  # clip length the flatten head is built for (1 s at 16 kHz)
    frontend: str = "waveform"  # waveform (reference: raw samples) | logmel (40 bands every 10 ms) | embedding
    # (embedding: the frozen speech-embedding network of dlcli.kws.embedding and a small head; width scales the head)
    kernel_size: int = 3  # of the separable convolutions in the blocks (reference: 3)
    n_mels: int = 40  # logmel front end only

    def __post_init__(self) -> None:
        self.activation = canonical_name(self.activation)
        if self.classes < 2:
            raise ValueError("a classifier needs at least 2 classes")
        if not 0 < self.width <= 4:
            raise ValueError(f"width must be in (0, 4], not {self.width}")
        if self.middle_blocks < 0:
            raise ValueError("middle_blocks must not be negative")
        if self.pooling not in ("flatten", "mean"):
            raise ValueError(f"pooling must be flatten or mean, not {self.pooling!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError("dropout must be in [0, 1)")
        if self.frontend not in ("waveform", "logmel", "embedding"):
            raise ValueError(f"frontend must be waveform, logmel or embedding, not {self.frontend!r}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError("kernel_size must be odd")


def small_config(**overrides) -> XceptionConfig:
    """The device-sized variant: log-mel front end, 64 channels, 4 blocks of kernel 9, global average pooling."""
    values = dict(frontend="logmel", width=0.5, middle_blocks=4, kernel_size=9, pooling="mean", dropout=0.1)
    values.update(overrides)
    return XceptionConfig(**values)


PRESETS = {"xception1d": XceptionConfig, "small": small_config}


def _channels(base: int, width: float) -> int:
    """Scaled channel count, a multiple of 8 (at least 8) so kernels stay vectorised."""
    return max(8, int(round(base * width / 8)) * 8) if width != 1.0 else base


def _length_after(samples: int, frontend: str = "waveform") -> int:
    """Time steps left after the strides: 16000 -> 4000 -> 2000 -> 1000/500/250 -> 125 -> 63 -> 32."""
    if frontend == "logmel":
        return samples // 160 + 1  # 10 ms frames, centred
    length = (samples + 2 * 4 - 9) // 4 + 1  # conv m=9, s=4
    length = (length + 2 * 2 - 5) // 2 + 1  # conv m=5, s=2
    for _ in range(4):  # three entry blocks and the exit block pool by 2 (ceil mode)
        length = math.ceil(length / 2)
    for _ in range(2):  # two strided separable convs, m=3
        length = (length + 2 - 3) // 2 + 1
    return length


# ----------------------------------------------------------------------------- model


class Xception1d(nn.Module):
    """Raw waveform (batch, samples) or (batch, 1, samples) -> logits (batch, classes)."""

    def __init__(self, config: XceptionConfig):
        super().__init__()
        self.config = config
        c = lambda base: _channels(base, config.width)  # noqa: E731
        act, kernel = config.activation, config.kernel_size
        self.normalize = PeakNormalize()
        if config.frontend == "logmel":
            channels = c(128)
            self.entry = nn.Sequential(
                LogMelFrontEnd(n_mels=config.n_mels),
                nn.InstanceNorm1d(config.n_mels),  # per-band mean and variance over the clip: channel colour out
                nn.Conv1d(config.n_mels, channels, 5, padding=2),
            )
            self.middle = nn.Sequential(
                *[XceptionBlock(channels, channels, 2, act, kernel_size=kernel) for _ in range(config.middle_blocks)]
            )
            # no instance norm right before pooling: a normalised map averages to the same value for every clip
            self.exit = nn.Identity()
            final = channels
        else:
            self.entry = nn.Sequential(
                nn.Conv1d(1, c(32), 9, stride=4, padding=4),
                make_activation(act),
                nn.InstanceNorm1d(c(32)),
                nn.Conv1d(c(32), c(64), 5, stride=2, padding=2),
                XceptionBlock(c(64), c(128), 2, act, stride=2, kernel_size=kernel),
                XceptionBlock(c(128), c(256), 2, act, stride=2, kernel_size=kernel),
                XceptionBlock(c(256), c(728), 2, act, stride=2, kernel_size=kernel),
            )
            self.middle = nn.Sequential(
                *[XceptionBlock(c(728), c(728), 3, act, kernel_size=kernel) for _ in range(config.middle_blocks)]
            )
            self.exit = nn.Sequential(
                XceptionBlock(c(728), c(1024), 2, act, stride=2, kernel_size=kernel),
                make_activation(act),
                nn.InstanceNorm1d(c(1024)),
                SeparableConv1d(c(1024), c(1536), 3, stride=2),
                make_activation(act),
                nn.InstanceNorm1d(c(1536)),
                SeparableConv1d(c(1536), c(2048), 3, stride=2),
            )
            final = c(2048)
        self.length = _length_after(config.samples, config.frontend)
        features = final * (self.length if config.pooling == "flatten" else 1)
        self.final_activation = make_activation(act)  # before pooling: the mean of a linear map says little
        self.head = nn.Sequential(
            nn.LayerNorm(features),
            nn.Dropout(config.dropout),
            nn.Linear(features, config.classes),
        )

    def features(self, waveforms: Tensor) -> Tensor:
        """The classifier's input, (batch, features)."""
        waveforms = self.normalize(waveforms.reshape(waveforms.shape[0], -1))  # (B, T) or (B, 1, T) -> (B, T)
        if self.config.frontend == "waveform":
            waveforms = waveforms.unsqueeze(1)  # (B, 1, T)
        h = self.final_activation(self.exit(self.middle(self.entry(waveforms))))  # (B, C, L)
        if self.config.pooling == "mean":
            return h.mean(dim=-1)  # (B, C)
        if h.shape[-1] != self.length:
            raise ValueError(
                f"the flatten head is built for {self.config.samples}-sample clips, got {waveforms.shape[-1]} samples"
            )
        return h.flatten(1)  # (B, C * L)

    def forward(self, waveforms: Tensor) -> Tensor:
        return self.head(self.features(waveforms))


def build_model(config: XceptionConfig) -> nn.Module:
    if config.frontend == "embedding":
        from dlcli.kws.embedding import EmbeddingClassifier

        return EmbeddingClassifier(config)
    return Xception1d(config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def multiply_accumulates(model: Xception1d, samples: int | None = None) -> int:
    """Multiply-accumulates of one forward pass (convolutions and the linear layer), counted with hooks."""
    total = 0

    def conv_hook(module: nn.Conv1d, inputs, output: Tensor) -> None:
        nonlocal total
        per_output = module.in_channels // module.groups * module.kernel_size[0]
        total += output.shape[1] * output.shape[2] * per_output

    def linear_hook(module: nn.Linear, inputs, output: Tensor) -> None:
        nonlocal total
        total += module.in_features * module.out_features

    def frontend_hook(module: LogMelFrontEnd, inputs, output: Tensor) -> None:
        nonlocal total  # the DFT as the exported convolution computes it, then the mel matrix
        frames = output.shape[-1]
        total += frames * (module.basis.shape[0] * module.window_length + module.filters.numel())

    hooks = {nn.Conv1d: conv_hook, nn.Linear: linear_hook, LogMelFrontEnd: frontend_hook}
    handles = [m.register_forward_hook(hooks[type(m)]) for m in model.modules() if type(m) in hooks]
    try:
        with torch.no_grad():
            model.eval()
            model(torch.randn(1, samples or model.config.samples))
    finally:
        for handle in handles:
            handle.remove()
    return total
