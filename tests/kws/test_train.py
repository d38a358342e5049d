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


def test_online_augmentation_in_the_data_path_is_used_on_a_cpu_and_resumes_exactly(
    tmp_path, sample_corpus, monkeypatch
):
    """Batches augmented in the prefetch thread, pitch by the spectrogram warp; stopped and resumed mid-epoch,
    the run ends with the weights of one that never stopped."""
    from dlcli.kws import batches
    from dlcli.kws.train import train
    from dlcli.train import load_checkpoint

    from .conftest import tiny_config

    fetched = []
    original = batches.AugmentedBatches.__getitems__

    def counting(self, indices):
        batch = original(self, indices)
        fetched.append(len(batch))
        return batch

    monkeypatch.setattr(batches.AugmentedBatches, "__getitems__", counting)
    monkeypatch.setenv("DLCLI_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    straight = train(sample_corpus, tmp_path / "straight", tiny_config(epochs=2, seed=3))
    assert fetched and set(fetched) == {3}  # waveforms, targets and the pitch factors of the warp
    config = tiny_config(epochs=2, seed=3, max_steps=6)  # 4 steps an epoch: stops inside the second
    train(sample_corpus, tmp_path / "resumed", config)
    config.train.max_steps = None
    resumed = train(sample_corpus, tmp_path / "resumed", config, resume=True)
    assert resumed.steps == straight.steps == 8
    a, b = (load_checkpoint(run.last_path, "kws")["state_dict"] for run in (straight, resumed))
    assert all(torch.equal(a[key], b[key]) for key in a)
