"""Datasets that hand whole batches to the engine (no per-example Python work), and a prefetch thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator, Sequence

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


_END = object()


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


def prefetched(batches: Iterable, depth: int, threads: int = 1) -> Iterator:
    """Iterate ``batches`` in a background thread, keeping up to ``depth`` batches ready.

    Batch preparation that is torch work (augmentation in a dataset's ``__getitems__``)
    releases the GIL, so it overlaps the training step on another core. The thread runs
    torch with ``threads`` intra-op threads (a per-thread setting), leaving the step its
    own. Its errors are raised here; leaving the loop early stops the thread.
    """
    ready: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        torch.set_num_threads(threads)
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(_END)
        except BaseException as error:  # handed to the consumer, raised in its thread
            put(_Failed(error))

    thread = threading.Thread(target=work, name="dlcli-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()
