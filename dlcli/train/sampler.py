"""A sampler that can start in the middle of an epoch and shards data across processes.

The order of epoch ``e`` depends only on (seed, e), never on the global RNG, so a run
resumed at batch k of epoch e sees exactly the batches the interrupted run would have.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ResumableSampler(Sampler[int]):
    def __init__(self, size: int, *, shuffle: bool = True, seed: int = 0, rank: int = 0, world_size: int = 1):
        self.size = size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.skip = 0
        # like DistributedSampler: pad so that every process gets the same number of examples
        self.per_rank = math.ceil(size / world_size) if size else 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Select the epoch's order and skip its first ``skip`` examples (of this process)."""
        self.epoch = epoch
        self.skip = skip

    def order(self) -> list[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            indices = torch.randperm(self.size, generator=generator).tolist()
        else:
            indices = list(range(self.size))
        padding = self.per_rank * self.world_size - self.size
        if padding:
            indices += indices[:padding]
        return indices[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.order()[self.skip :])

    def __len__(self) -> int:
        return max(0, self.per_rank - self.skip)
