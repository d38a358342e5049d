"""Features and batches: log-mel targets, phoneme ids, length-bucketed batches.

Mels follow the reference set-up: 16 kHz, 80 bins, 50 ms window, 12.5 ms hop (n_fft
1024), natural log of magnitudes, then normalised per bin with the training set's mean
and standard deviation (stored in the checkpoint). Batches group utterances of similar
length, re-drawn every epoch from (seed, epoch) so resumed runs see the same batches.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset


@dataclass
class AudioConfig:
    sample_rate: int = 16000
    n_fft: int = 1024
    win_length: int = 800  # 50 ms
    hop_length: int = 200  # 12.5 ms
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float = 8000.0
    log_floor: float = 1e-5


def mel_extractor(audio: AudioConfig):
    from dlcli.audio.features import LogMel

    return LogMel(
        sample_rate=audio.sample_rate,
        n_fft=audio.n_fft,
        win_length=audio.win_length,
        hop_length=audio.hop_length,
        n_mels=audio.n_mels,
        f_min=audio.f_min,
        f_max=audio.f_max,
        power=1.0,
        log_floor=audio.log_floor,
    )


@torch.no_grad()
def log_mels(waveforms: Sequence[np.ndarray], audio: AudioConfig) -> list[Tensor]:
    """(frames, n_mels) natural-log mel magnitudes of each waveform."""
    extractor = mel_extractor(audio)
    return [extractor(torch.from_numpy(w)).T.contiguous() for w in waveforms]


@dataclass
class Example:
    symbols: Tensor  # (text,) long
    mel: Tensor  # (frames, n_mels) normalised
    speaker: int
    index: int  # position in the corpus listing


class BucketBatches(Dataset):
    """Each item is a whole batch of utterances of similar length (the engine runs with batch_size 1)."""

    def __init__(self, examples: list[Example], batch_size: int, reduction: int, seed: int = 0, shuffle: bool = True):
        self.examples = examples
        self.batch_size = batch_size
        self.reduction = reduction
        self.seed = seed
        self.shuffle = shuffle
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        rng = random.Random(self.seed * 100003 + epoch)
        lengths = [len(e.mel) * (1 + (rng.random() - 0.5) * 0.2 if self.shuffle else 1) for e in self.examples]
        order = sorted(range(len(self.examples)), key=lengths.__getitem__)
        self.batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.shuffle:
            rng.shuffle(self.batches)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return collate([self.examples[i] for i in self.batches[index]], self.reduction)

    @staticmethod
    def unwrap(batch: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        return batch[0]


def collate(examples: list[Example], reduction: int) -> dict[str, Tensor]:
    """Pad symbols and mels (mels to a multiple of r); stop targets mark the last decoder step."""
    batch = len(examples)
    text = max(len(e.symbols) for e in examples)
    frames = max(len(e.mel) for e in examples)
    frames += (-frames) % reduction
    n_mels = examples[0].mel.shape[1]
    symbols = torch.zeros(batch, text, dtype=torch.long)
    mels = torch.zeros(batch, frames, n_mels)
    stop = torch.zeros(batch, frames // reduction)
    for row, example in enumerate(examples):
        symbols[row, : len(example.symbols)] = example.symbols
        mels[row, : len(example.mel)] = example.mel
        mels[row, len(example.mel) :] = example.mel[-1]  # hold the final (silent) frame
        last_step = (len(example.mel) - 1) // reduction
        stop[row, last_step:] = 1.0
    return {
        "symbols": symbols,
        "text_lengths": torch.tensor([len(e.symbols) for e in examples]),
        "mels": mels,
        "mel_lengths": torch.tensor([len(e.mel) for e in examples]),
        "stop": stop,
        "speakers": torch.tensor([e.speaker for e in examples]),
        "index": torch.tensor([e.index for e in examples]),
    }


@dataclass
class PhoneExample:
    """One aligned utterance for the duration model (per-phone targets normalised like the mel)."""

    phones: Tensor  # (phones,) long, ids of align.PHONES
    durations: Tensor  # (phones,) long, frames; sums to len(mel)
    pitch: Tensor  # (phones,) normalised log f0 (0 where unvoiced)
    voiced: Tensor  # (phones,) 0/1
    energy: Tensor  # (phones,) normalised mean log-mel level
    mel: Tensor  # (frames, n_mels) normalised
    speaker: int
    index: int
    # utterances whose durations are learned (no alignment, or --durations learned): the frame-level values
    # that per-phone pitch, voicing and energy are averaged from once alignment search has chosen durations
    learned: bool = False
    frame_pitch: Tensor | None = None  # (frames,) normalised log f0 on periodic frames, 0 elsewhere
    periodic: Tensor | None = None  # (frames,) 0/1
    frame_energy: Tensor | None = None  # (frames,) normalised mean log-mel level


class PhoneBatches(BucketBatches):
    """Length-bucketed batches of aligned utterances (the same epoch-seeded buckets as the Tacotron's)."""

    def __init__(self, examples: list[PhoneExample], batch_size: int, seed: int = 0, shuffle: bool = True):
        super().__init__(examples, batch_size, 1, seed, shuffle)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return collate_phones([self.examples[i] for i in self.batches[index]])


def collate_phones(examples: list[PhoneExample]) -> dict[str, Tensor]:
    """Pad phones (id 0) and their targets, and mels to the longest utterance of the batch.

    Rows of learned utterances (``learned``) carry zero durations and per-phone targets, and their
    frame-level pitch, periodicity and energy, from which the step forms them."""
    batch = len(examples)
    phones = max(len(e.phones) for e in examples)
    frames = max(len(e.mel) for e in examples)
    out = {
        "phones": torch.zeros(batch, phones, dtype=torch.long),
        "durations": torch.zeros(batch, phones, dtype=torch.long),
        "pitch": torch.zeros(batch, phones),
        "voiced": torch.zeros(batch, phones),
        "energy": torch.zeros(batch, phones),
        "mels": torch.zeros(batch, frames, examples[0].mel.shape[1]),
    }
    for row, e in enumerate(examples):
        n = len(e.phones)
        for key, value in (("phones", e.phones), ("durations", e.durations), ("pitch", e.pitch)):
            out[key][row, :n] = value
        out["voiced"][row, :n], out["energy"][row, :n] = e.voiced, e.energy
        out["mels"][row, : len(e.mel)] = e.mel
    if any(e.learned for e in examples):
        out["learned"] = torch.tensor([e.learned for e in examples])
        for key in ("frame_pitch", "periodic", "frame_energy"):
            out[key] = torch.zeros(batch, frames)
            for row, e in enumerate(examples):
                if e.learned:
                    out[key][row, : len(e.mel)] = getattr(e, key)
    out["mel_lengths"] = torch.tensor([len(e.mel) for e in examples])
    out["speakers"] = torch.tensor([e.speaker for e in examples])
    out["index"] = torch.tensor([e.index for e in examples])
    return out
