"""The prefetch thread: same batches in the same order, errors surface, an early exit stops it."""

import threading
import time

import pytest
import torch

from dlcli.train.data import prefetched


def test_yields_every_batch_in_order_from_another_thread():
    threads = []

    def batches():
        for index in range(7):
            threads.append(threading.current_thread())
            yield torch.full((2,), index)

    got = [int(batch[0]) for batch in prefetched(batches(), depth=2)]
    assert got == list(range(7))
    assert all(thread is not threading.current_thread() for thread in threads)


def test_an_error_in_the_thread_is_raised_to_the_consumer():
    def batches():
        yield 1
        raise ValueError("bad clip")

    with pytest.raises(ValueError, match="bad clip"):
        list(prefetched(batches(), depth=2))


def test_leaving_early_stops_the_thread():
    produced = []

    def batches():
        for index in range(1000):
            produced.append(index)
            yield index

    before = threading.active_count()
    iterator = prefetched(batches(), depth=2)
    assert next(iterator) == 0
    iterator.close()
    time.sleep(0.2)
    assert threading.active_count() == before
    assert len(produced) < 10  # at most the queue's depth ahead


def test_the_worker_thread_keeps_its_own_torch_thread_count():
    seen = []

    def batches():
        seen.append(torch.get_num_threads())
        yield 0

    main = torch.get_num_threads()
    list(prefetched(batches(), depth=1, threads=1))
    assert seen == [1] and torch.get_num_threads() == main
