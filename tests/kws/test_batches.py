"""Training batches augmented in the data path: repeatable per (seed, epoch, batch), pitch factors carried."""

import torch

from dlcli.kws.augment import AugmentConfig, Augmenter
from dlcli.kws.batches import AugmentedBatches


def dataset(warp: bool, seed: int = 0) -> AugmentedBatches:
    generator = torch.Generator().manual_seed(0)
    clips = torch.randint(-3000, 3000, (12, 16000), dtype=torch.int16, generator=generator)
    augmenter = Augmenter(AugmentConfig(pitch_octaves_std=0.1), torch.randn(40000, generator=generator) * 0.1)
    return AugmentedBatches(clips, torch.arange(12), augmenter, seed=seed, warp=warp)


def test_a_batch_is_the_same_for_the_same_seed_epoch_and_clips():
    data = dataset(warp=True)
    first = data.__getitems__([5, 2, 7])
    again = data.__getitems__([5, 2, 7])
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    waveforms, targets, factors = first
    assert waveforms.dtype == torch.float32 and waveforms.shape == (3, 16000)
    assert targets.tolist() == [5, 2, 7] and factors.shape == (3,) and (factors != 1).all()
    data.set_epoch(1)
    assert not torch.equal(data.__getitems__([5, 2, 7])[0], waveforms)  # fresh draws every epoch
    assert not torch.equal(dataset(warp=True, seed=1).__getitems__([5, 2, 7])[0], waveforms)


def test_without_warp_the_vocoder_shifts_the_waveform_and_no_factors_travel():
    batch = dataset(warp=False).__getitems__([0, 1])
    assert len(batch) == 2 and batch[0].shape == (2, 16000) and torch.isfinite(batch[0]).all()
