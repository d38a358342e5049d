"""Real image sets for the activation study, available offline.

- ``digits``: scikit-learn's handwritten digits (1,797 8x8 images, 10 classes; UCI),
  a fixed stratified 70/30 split.
- ``spoken-digits``: the Free Spoken Digit Dataset (people saying 0-9, 8 kHz) as 32x32
  log-mel images; recordings 0-4 of each speaker and digit are the test set, as the
  dataset's own README prescribes.

Pixels are scaled to [-1, 1] with the training set's minimum and maximum (the paper's
normalisation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dlcli.errors import InputError

DATASETS = ("digits", "spoken-digits")
_SPOKEN_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)$")


@dataclass
class ImageSplit:
    name: str
    train_images: Tensor  # (n, channels, height, width), float32 in [-1, 1]
    train_labels: Tensor  # (n,), int64
    test_images: Tensor
    test_labels: Tensor
    classes: list[str]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])


def _scale(train: np.ndarray, test: np.ndarray) -> tuple[Tensor, Tensor]:
    low, high = float(train.min()), float(train.max())
    span = (high - low) or 1.0
    convert = lambda a: torch.from_numpy(np.clip((a - low) / span * 2.0 - 1.0, -1.0, 1.0).astype(np.float32))  # noqa: E731
    return convert(train), convert(test)


def load_digits_split(seed: int = 0) -> ImageSplit:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = bunch.images.astype(np.float32)[:, None]  # (1797, 1, 8, 8), values 0..16
    train_x, test_x, train_y, test_y = train_test_split(
        images, bunch.target, test_size=0.3, random_state=seed, stratify=bunch.target
    )
    train_images, test_images = _scale(train_x, test_x)
    return ImageSplit(
        "digits",
        train_images,
        torch.from_numpy(train_y).long(),
        test_images,
        torch.from_numpy(test_y).long(),
        [str(d) for d in range(10)],
    )


def load_spoken_digits_split(folder: str | Path, size: int = 32) -> ImageSplit:
    """FSDD recordings named ``{digit}_{speaker}_{index}`` as ``size`` x ``size`` log-mel images."""
    from dlcli.audio import list_audio_files, load_audio
    from dlcli.audio.features import LogMel

    folder = Path(folder)
    files = [p for p in list_audio_files(folder) if _SPOKEN_NAME.match(p.stem)]
    if not files:
        raise InputError("no recordings named {digit}_{speaker}_{index} found", path=folder)
    rate, samples = 8000, 8000  # one second at the recordings' own 8 kHz
    waves, labels, is_test = [], [], []
    for path in files:
        digit, _, index = _SPOKEN_NAME.match(path.stem).groups()
        audio, _ = load_audio(path, rate)
        audio = audio[:samples]
        start = (samples - audio.shape[0]) // 2
        padded = np.zeros(samples, np.float32)
        padded[start : start + audio.shape[0]] = audio
        waves.append(padded / (np.abs(padded).max() or 1.0))
        labels.append(int(digit))
        is_test.append(int(index) < 5)
    features = LogMel(sample_rate=rate, n_fft=512, win_length=400, hop_length=samples // (size - 1), n_mels=size)
    with torch.no_grad():
        images = features(torch.from_numpy(np.stack(waves)))[:, :, :size].numpy()[:, None]  # (n, 1, size, size)
    labels_array, test_mask = np.array(labels), np.array(is_test)
    train_images, test_images = _scale(images[~test_mask], images[test_mask])
    return ImageSplit(
        "spoken-digits",
        train_images,
        torch.from_numpy(labels_array[~test_mask]).long(),
        test_images,
        torch.from_numpy(labels_array[test_mask]).long(),
        [str(d) for d in range(10)],
    )


def load_split(name: str, data_dir: str | Path | None = None, seed: int = 0) -> ImageSplit:
    if name == "digits":
        return load_digits_split(seed)
    if name == "spoken-digits":
        if data_dir is None:
            raise InputError("the spoken-digits set needs --data-dir (a folder of FSDD recordings)")
        return load_spoken_digits_split(data_dir)
    raise InputError(f"unknown dataset '{name}' (use {', '.join(DATASETS)})")
