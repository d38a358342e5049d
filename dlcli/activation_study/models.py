"""The chapter-3 architectures (Frankle & Carbin's FC, Conv2, Conv6), scaled to small images.

No batch norm and no dropout, as in the paper, so the activation alone shapes training.
``width`` scales every layer (1.0 is the paper's 64/128/256 channels and 256-unit layers).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dlcli.nn.activations import make_activation

# conv channels per block; each block ends with a 2x2 max-pool
CONV_BLOCKS = {"fc": [], "conv2": [[64, 64]], "conv6": [[64, 64], [128, 128], [256, 256]]}
ARCHITECTURES = tuple(CONV_BLOCKS)


@dataclass
class StudyModelConfig:
    architecture: str = "conv2"  # fc | conv2 | conv6
    activation: str = "relu"  # any registered activation
    width: float = 1.0  # multiplier on every layer's width
    in_channels: int = 1
    height: int = 8
    width_pixels: int = 8
    classes: int = 10
    dense: tuple[int, int] = (256, 256)  # hidden units of the two dense layers


class StudyNet(nn.Module):
    def __init__(self, config: StudyModelConfig):
        super().__init__()
        if config.architecture not in CONV_BLOCKS:
            raise ValueError(f"unknown architecture {config.architecture!r} (use {', '.join(ARCHITECTURES)})")
        layers: list[nn.Module] = []
        channels, height, width = config.in_channels, config.height, config.width_pixels
        for block in CONV_BLOCKS[config.architecture]:
            for out_channels in block:
                out_channels = max(1, round(out_channels * config.width))
                layers += [nn.Conv2d(channels, out_channels, 3, padding=1), make_activation(config.activation)]
                channels = out_channels
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
            height, width = (height + 1) // 2, (width + 1) // 2
        self.features = nn.Sequential(*layers)
        hidden = [max(1, round(units * config.width)) for units in config.dense]
        dense: list[nn.Module] = [nn.Flatten()]
        inputs = channels * height * width
        for units in hidden:
            dense += [nn.Linear(inputs, units), make_activation(config.activation)]
            inputs = units
        dense.append(nn.Linear(inputs, config.classes))
        self.classifier = nn.Sequential(*dense)

    def forward(self, images: Tensor) -> Tensor:  # (batch, channels, height, width) -> (batch, classes)
        return self.classifier(self.features(images))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["ARCHITECTURES", "StudyModelConfig", "StudyNet", "count_parameters", "torch"]
