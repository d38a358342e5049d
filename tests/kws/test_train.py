import torch

from dlcli.kws.augment import AugmentConfig, Augmenter
from dlcli.kws.train import offline_copies


def speech_like(batch: int) -> torch.Tensor:
    """int16 clips of chirps with different peaks, as the training set stores them."""
    t = torch.arange(16000) / 16000
    peaks = torch.linspace(0.2, 0.9, batch)[:, None]
    waves = torch.sin(2 * torch.pi * (200 + 300 * t) * t * torch.arange(1, batch + 1)[:, None]) * peaks
    return (waves * 32767).round().to(torch.int16)


def test_offline_copies_append_distorted_full_scale_versions_and_leave_the_rng_alone():
    clips, targets = speech_like(6), torch.arange(6)
    augmenter = Augmenter(AugmentConfig(), torch.randn(40000) * 0.01)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    made, labels = offline_copies(clips, targets, augmenter, copies=2, seed=0)
    assert torch.equal(torch.get_rng_state(), before)  # online augmentation later draws the same numbers
    assert made.shape == (18, 16000) and made.dtype == torch.int16
    assert torch.equal(made[:6], clips) and torch.equal(labels, targets.repeat(3))
    first, second = made[6:12], made[12:]
    assert not torch.equal(first, second) and not torch.equal(first, clips)  # every copy draws its own distortion
    assert (first.abs().amax(-1) >= 32766).all()  # stored at full scale: the model peak-normalises anyway
    again, _ = offline_copies(clips, targets, augmenter, copies=2, seed=0)
    assert torch.equal(made, again)  # the same seed makes the same copies
    assert torch.equal(offline_copies(clips, targets, augmenter, copies=0, seed=0)[0], clips)
