"""Datasets that hand whole batches to the engine (no per-example Python work)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset


class TensorBatchDataset(Dataset):
    """Tensors indexed along their first dimension, fetched a batch at a time.

    DataLoader calls ``__getitems__`` with the batch's indices; ``collate`` passes the
    result through, so a batch costs one indexing operation per tensor.
    """

    def __init__(self, *tensors: Tensor):
        if not tensors or any(t.shape[0] != tensors[0].shape[0] for t in tensors):
            raise ValueError("TensorBatchDataset needs tensors of the same length")
        self.tensors = tensors

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __getitems__(self, indices: Sequence[int]) -> tuple[Tensor, ...]:
        index = torch.as_tensor(indices, dtype=torch.long)
        return tuple(t.index_select(0, index) for t in self.tensors)

    @staticmethod
    def collate(batch: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        return batch
