"""Xception-1d: a raw-waveform CNN of depthwise-separable 1-D convolutions (dissertation ch. 6).

The reference network (Vallés-Pérez et al., ESANN 2021; after Chollet's Xception, 2017)
takes 1 s of 16 kHz audio, shape (batch, 16000), and has 37 layers and 12 residual
blocks, about 21.5M parameters for 3 classes and 23.6M for 35. There is no batch norm:
instance norm after every convolution and layer norm before the classifier, so a clip's
prediction never depends on the other clips in its batch.

``width`` scales every channel count and ``middle_blocks`` the depth; with
``pooling="mean"`` the classifier reads a global average instead of the flattened
(2048 x 32) map, which makes the small variant (``small_config``) cheap enough for
devices and a natural distillation student.
"""

from __future__ import annotations

import math
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
        if torch.jit.is_tracing():  # export the 1x1 convolution as MatMul: int8 quantisation makes it fast
            weight = self.pointwise.weight.squeeze(-1)  # (C_out, C_in)
            return torch.matmul(weight, x) + self.pointwise.bias[:, None]
        return self.pointwise(x)


class XceptionBlock(nn.Module):
    """n_mod x [activation -> instance norm -> separable conv], average pooling, residual path.

    The skip path is a strided 1x1 convolution when the shape changes, else the identity.
    """

    def __init__(self, in_channels: int, out_channels: int, modules: int, activation: str, stride: int = 1):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(modules):
            layers += [
                make_activation(activation),
                nn.InstanceNorm1d(channels),
                SeparableConv1d(channels, out_channels),
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


def small_config(**overrides) -> XceptionConfig:
    """The device-sized variant: a quarter of the width, 2 middle blocks, global average pooling."""
    values = dict(width=0.25, middle_blocks=2, pooling="mean", dropout=0.1)
    values.update(overrides)
    return XceptionConfig(**values)


PRESETS = {"xception1d": XceptionConfig, "small": small_config}


def _channels(base: int, width: float) -> int:
    """Scaled channel count, a multiple of 8 (at least 8) so kernels stay vectorised."""
    return max(8, int(round(base * width / 8)) * 8) if width != 1.0 else base


def _length_after(samples: int) -> int:
    """Time steps left after the strides: 16000 -> 4000 -> 2000 -> 1000/500/250 -> 125 -> 63 -> 32."""
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
        act = config.activation
        self.normalize = PeakNormalize()
        self.entry = nn.Sequential(
            nn.Conv1d(1, c(32), 9, stride=4, padding=4),
            make_activation(act),
            nn.InstanceNorm1d(c(32)),
            nn.Conv1d(c(32), c(64), 5, stride=2, padding=2),
            XceptionBlock(c(64), c(128), 2, act, stride=2),
            XceptionBlock(c(128), c(256), 2, act, stride=2),
            XceptionBlock(c(256), c(728), 2, act, stride=2),
        )
        self.middle = nn.Sequential(*[XceptionBlock(c(728), c(728), 3, act) for _ in range(config.middle_blocks)])
        self.exit = nn.Sequential(
            XceptionBlock(c(728), c(1024), 2, act, stride=2),
            make_activation(act),
            nn.InstanceNorm1d(c(1024)),
            SeparableConv1d(c(1024), c(1536), 3, stride=2),
            make_activation(act),
            nn.InstanceNorm1d(c(1536)),
            SeparableConv1d(c(1536), c(2048), 3, stride=2),
        )
        features = c(2048) * (_length_after(config.samples) if config.pooling == "flatten" else 1)
        self.head = nn.Sequential(
            make_activation(act),
            nn.LayerNorm(features),
            nn.Dropout(config.dropout),
            nn.Linear(features, config.classes),
        )

    def features(self, waveforms: Tensor) -> Tensor:
        """The classifier's input, (batch, features)."""
        if waveforms.dim() == 2:
            waveforms = waveforms.unsqueeze(1)  # (B, T) -> (B, 1, T)
        h = self.exit(self.middle(self.entry(self.normalize(waveforms))))  # (B, C, L)
        if self.config.pooling == "mean":
            return h.mean(dim=-1)  # (B, C)
        if h.shape[-1] != _length_after(self.config.samples):
            raise ValueError(
                f"the flatten head is built for {self.config.samples}-sample clips, got {waveforms.shape[-1]} samples"
            )
        return h.flatten(1)  # (B, C * L)

    def forward(self, waveforms: Tensor) -> Tensor:
        return self.head(self.features(waveforms))


def build_model(config: XceptionConfig) -> Xception1d:
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

    handles = [
        m.register_forward_hook(conv_hook if isinstance(m, nn.Conv1d) else linear_hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv1d, nn.Linear))
    ]
    try:
        with torch.no_grad():
            model.eval()
            model(torch.randn(1, samples or model.config.samples))
    finally:
        for handle in handles:
            handle.remove()
    return total
