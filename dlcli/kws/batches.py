"""Training batches augmented as they are fetched, so a prefetch thread prepares them during the steps.

On a CPU the augmentation then overlaps the model's forward and backward pass (the engine's
``prefetch`` runs the loader in a background thread; torch releases the GIL in its
operations). Each batch draws its random intensities from its own generator, seeded by
(seed, epoch, first clip of the batch): the draws do not depend on which thread runs them
or on the model's use of the global generator (dropout), and a resumed run repeats them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset

from dlcli.kws.augment import Augmenter

INT16_SCALE = 1.0 / 32768.0


def batch_generator(seed: int, epoch: int, first: int) -> torch.Generator:
    """The generator of one batch: a hash of (seed, epoch, index of its first clip)."""
    digest = hashlib.sha1(f"kws-augment:{seed}:{epoch}:{first}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))


class AugmentedBatches(Dataset):
    """int16 clips (n, samples) and targets; a batch comes back as float clips, augmented.

    ``warp``: the pitch shift is left to the model's log-mel front end, and each batch
    carries the clips' pitch factors as a third tensor (``model.pitch_warp``).
    """

    def __init__(self, clips: Tensor, targets: Tensor, augmenter: Augmenter, *, seed: int, warp: bool):
        if len(clips) != len(targets):
            raise ValueError("AugmentedBatches needs as many targets as clips")
        self.clips, self.targets, self.augmenter = clips, targets, augmenter
        self.seed, self.warp, self.epoch = seed, warp, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(t[0] for t in self.__getitems__([index]))

    def __getitems__(self, indices: Sequence[int]) -> tuple[Tensor, ...]:
        index = torch.as_tensor(indices, dtype=torch.long)
        generator = batch_generator(self.seed, self.epoch, int(index[0]))
        waveforms = self.clips.index_select(0, index).float() * INT16_SCALE
        targets = self.targets.index_select(0, index)
        if self.warp:
            waveforms, factors = self.augmenter.with_pitch_factors(waveforms, generator=generator)
            return waveforms, targets, factors
        return self.augmenter(waveforms, generator=generator), targets

    @staticmethod
    def collate(batch: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        return batch
