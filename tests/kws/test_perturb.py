"""The named distortions of ``kws train --distortions``: shapes, finiteness and the effect each claims."""

import importlib.util
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dlcli.cli import app
from dlcli.kws import perturb
from dlcli.kws.augment import AugmentConfig
from dlcli.kws.perturb import PerturbConfig, Perturber

SR = 16000
needs_openwakeword = pytest.mark.skipif(importlib.util.find_spec("openwakeword") is None, reason="dlcli[wakeword]")


def spectrum_energy(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    power = torch.fft.rfft(x, dim=-1).abs().square()
    frequency = torch.fft.rfftfreq(x.shape[-1], 1 / SR)
    return power[..., (frequency >= low) & (frequency < high)].sum(-1)


def peak_frequency(x: torch.Tensor) -> float:
    power = torch.fft.rfft(x * torch.hann_window(x.shape[-1]), dim=-1).abs()
    return float(torch.fft.rfftfreq(x.shape[-1], 1 / SR)[power.argmax()])


def tone(frequency: float, seconds: float = 1.0) -> torch.Tensor:
    return 0.5 * torch.sin(2 * torch.pi * frequency * torch.arange(int(SR * seconds)) / SR)


def test_config_validates_names_and_ranges():
    with pytest.raises(ValueError, match="did you mean room"):
        PerturbConfig(distortions=["rooms"])
    with pytest.raises(ValueError, match="cannot be combined"):
        PerturbConfig(distortions=["none", "band"])
    with pytest.raises(ValueError, match="named twice"):
        PerturbConfig(distortions=["band", "band"])
    with pytest.raises(ValueError, match="speed_range"):
        PerturbConfig(speed_range=[1.1, 0.9])
    with pytest.raises(ValueError, match="mixup"):
        PerturbConfig(mixup=-1)
    assert PerturbConfig().is_reference and not PerturbConfig(mixup=0.2).is_reference
    assert PerturbConfig(distortions=["band", "specaugment"]).specaugment


def test_every_distortion_keeps_shape_peak_and_finiteness():
    torch.manual_seed(0)
    x = torch.randn(3, SR) * torch.tensor([[0.1], [0.3], [0.6]])
    for name in perturb.WAVEFORM:
        config = PerturbConfig(distortions=[name], rooms=2)
        y = Perturber(config, AugmentConfig(), torch.randn(3 * SR) * 0.1)(x)
        assert y.shape == x.shape and torch.isfinite(y).all(), name
        assert torch.allclose(y.abs().amax(-1), x.abs().amax(-1), rtol=1e-4), name  # rescaled to the original peak
        assert not torch.allclose(y, x), name


def test_band_limit_removes_energy_outside_the_band():
    torch.manual_seed(0)
    x = torch.randn(2, SR)
    y = perturb.band_limit(x, torch.tensor([300.0, 0.0]), torch.tensor([3400.0, 3800.0]))
    assert spectrum_energy(y[0], 3500, 8000) < 1e-6 * spectrum_energy(x[0], 3500, 8000)
    assert spectrum_energy(y[1], 3900, 8000) < 1e-6 * spectrum_energy(x[1], 3900, 8000)
    assert spectrum_energy(y[:1], 0, 250) < 1e-6 * spectrum_energy(x[:1], 0, 250)
    assert torch.allclose(spectrum_energy(y, 500, 3300), spectrum_energy(x, 500, 3300), rtol=1e-3)
    assert (spectrum_energy(perturb.random_band(x), 7600, 8000) < 1e-6 * spectrum_energy(x, 7600, 8000)).all()


def test_speed_and_vtlp_move_a_tone_and_formant_shift_keeps_the_pitch():
    x = tone(1000.0)[None]
    config = PerturbConfig(distortions=["speed"], speed_range=[1.1, 1.1])
    assert abs(peak_frequency(Perturber(config, AugmentConfig())(x)[0]) - 1100) < 10
    assert abs(peak_frequency(perturb.vtlp(x, torch.tensor([1.1]))[0]) - 1100) < 40
    # a 200 Hz voice with one formant near 1 kHz: the formant moves up, the harmonics stay on 200 Hz
    t = torch.arange(SR) / SR
    voice = sum(np.exp(-(((k * 200 - 1000) / 300) ** 2)) * torch.sin(2 * torch.pi * k * 200 * t) for k in range(1, 30))[None]  # fmt: skip
    shifted = perturb.formant_shift(voice, torch.tensor([1.2]))
    power = torch.fft.rfft(shifted[0]).abs().square()
    frequency = torch.fft.rfftfreq(SR, 1 / SR)
    centroid = lambda p: float((p * frequency).sum() / p.sum())  # noqa: E731
    assert centroid(power) > centroid(torch.fft.rfft(voice[0]).abs().square()) + 100
    strongest = frequency[power.topk(5).indices]
    assert torch.allclose(strongest / 200, (strongest / 200).round(), atol=0.02)  # still harmonics of 200 Hz


def test_mu_law_has_256_levels_and_a_small_error():
    x = torch.linspace(-0.7, 0.7, 5000)[None]
    y = perturb.mu_law(x)
    assert len(torch.unique(torch.round(y * 1e5))) <= 256
    assert (y - x).abs().max() < 0.03 and not torch.equal(y, x)


@pytest.mark.skipif(shutil.which("sox") is None, reason="needs sox")
def test_gsm_codes_through_sox_at_8_khz():
    torch.manual_seed(0)
    x = torch.randn(2, SR) * 0.2
    y = perturb.gsm(x)
    assert y is not None and y.shape == x.shape and torch.isfinite(y).all()
    assert (spectrum_energy(y, 4200, 8000) < 0.01 * spectrum_energy(x, 4200, 8000)).all()


@pytest.mark.parametrize("simulated", [True, False])
def test_rooms_lengthen_the_decay(monkeypatch, simulated):
    if simulated and importlib.util.find_spec("pyroomacoustics") is None:
        pytest.skip("pyroomacoustics is not installed")
    if not simulated:
        monkeypatch.setattr(perturb, "_shoebox_rir", lambda *a: None)
    bank = perturb.room_bank(PerturbConfig(rooms=3, room_rt60=[0.5, 0.6]), seed=0)
    assert bank.shape == (3, SR // 2) and torch.isfinite(bank).all()
    torch.manual_seed(0)
    burst = torch.zeros(3, SR)
    burst[:, 1600:3200] = torch.randn(3, 1600)  # 0.1 s of noise, then silence
    wet = perturb.reverberate(burst, bank)
    tail = slice(4800, 8000)  # 0.1 to 0.3 s after the burst ended
    assert (wet[:, tail].square().sum(-1) > 1e-3 * wet.square().sum(-1)).all()
    assert burst[:, tail].abs().sum() == 0
    assert torch.equal(bank, perturb.room_bank(PerturbConfig(rooms=3, room_rt60=[0.5, 0.6]), seed=0))


def test_one_of_gives_each_clip_one_distortion_and_marks_the_masked_ones():
    torch.manual_seed(0)
    x = torch.randn(16, SR) * 0.3
    perturber = Perturber(PerturbConfig(distortions=["band", "specaugment"], choose="one"), AugmentConfig())
    y = perturber(x)
    masked = perturber.masked
    assert 0 < int(masked.sum()) < 16  # some clips for SpecAugment, the others band-limited
    assert torch.allclose(y[masked], x[masked], atol=1e-6)
    assert (spectrum_energy(y[~masked], 7600, 8000) < 1e-6 * spectrum_energy(x[~masked], 7600, 8000)).all()
    both = Perturber(PerturbConfig(distortions=["band", "specaugment"]), AugmentConfig())
    both(x)
    assert both.masked.all()
    with pytest.raises(ValueError, match="choose"):
        PerturbConfig(choose="some")


def test_spec_masks_fill_bands_and_frames_with_the_mean():
    features = torch.arange(2 * 50 * 32, dtype=torch.float32).reshape(2, 50, 32)
    config = PerturbConfig(time_masks=1, time_mask_frames=10, frequency_masks=1, frequency_mask_bands=4)
    generator = torch.Generator().manual_seed(0)
    masked = perturb.spec_masks(features, config, time_dim=1, generator=generator)
    assert masked.shape == features.shape
    changed = masked != features
    assert changed.any() and changed.sum() <= 2 * (10 * 32 + 4 * 50)
    fill = features.mean(dim=(1, 2))
    assert torch.all(masked[0][changed[0]] == fill[0])
    none = PerturbConfig(time_mask_frames=0, frequency_mask_bands=0)
    assert torch.equal(perturb.spec_masks(features, none, time_dim=1), features)


def test_specaugment_hook_masks_the_small_models_log_mel_only_while_training():
    from dlcli.kws.model import build_model
    from tests.kws.conftest import tiny_config

    config = tiny_config()
    config.model.classes = 3
    model = build_model(config.model)
    assert perturb.add_specaugment(model, PerturbConfig(distortions=["specaugment"], time_mask_frames=40))
    x = torch.randn(2, SR) * 0.1
    model.eval()
    torch.manual_seed(0)
    first = model(x)
    assert torch.equal(first, model(x))
    model.train()
    outputs = [model(x) for _ in range(2)]
    assert not torch.allclose(outputs[0], outputs[1])


def test_mixup_blends_pairs_and_its_loss():
    torch.manual_seed(0)
    inputs, target = torch.randn(8, 5), torch.arange(8) % 3
    mixed, order, weight = perturb.mixup(inputs, 0.4)
    assert 0 <= weight <= 1 and sorted(order.tolist()) == list(range(8))
    assert torch.allclose(mixed, weight * inputs + (1 - weight) * inputs[order])
    logits = torch.randn(8, 3)
    loss = perturb.mixup_loss(logits, target, order, 1.0)
    assert torch.isclose(loss, torch.nn.functional.cross_entropy(logits, target))


def test_none_copies_are_exact_repeats_and_the_rng_is_left_alone():
    clips = (torch.randn(5, SR) * 8000).round().to(torch.int16)
    targets = torch.arange(5)
    torch.manual_seed(1)
    before = torch.get_rng_state()
    made, labels = perturb.perturbed_copies(clips, targets, Perturber(PerturbConfig(distortions=["none"]), AugmentConfig()), 1, 0)  # fmt: skip
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(made, torch.cat([clips, clips])) and torch.equal(labels, targets.repeat(2))
    banded = Perturber(PerturbConfig(distortions=["band"]), AugmentConfig())
    one, _ = perturb.perturbed_copies(clips, targets, banded, 1, 0)
    two, _ = perturb.perturbed_copies(clips, targets, banded, 1, 0)
    assert torch.equal(one, two) and not torch.equal(one[5:], clips)


@needs_openwakeword
def test_masked_embeddings_equal_plain_ones_without_masks_and_are_cached(tmp_path, monkeypatch):
    from dlcli.kws import embedding

    monkeypatch.setenv("DLCLI_CACHE", str(tmp_path))
    clips = (torch.stack([tone(440.0), tone(880.0) * 0.5]) * 32767).round().to(torch.int16)
    plain = embedding.cached_embeddings(clips)
    unmasked = perturb.masked_embeddings(clips, PerturbConfig(time_mask_frames=0, frequency_mask_bands=0), 0)
    assert torch.allclose(plain, unmasked, atol=1e-4)
    config = PerturbConfig(distortions=["specaugment"], time_mask_frames=30, frequency_mask_bands=8)
    masked = perturb.masked_embeddings(clips, config, 0)
    assert masked.shape == plain.shape and not torch.allclose(masked, plain, atol=1e-3)
    assert torch.equal(masked, perturb.masked_embeddings(clips, config, 0))  # read back from the cache
    perturber = Perturber(config, AugmentConfig())
    perturber.copies_masked = torch.tensor([False, True])  # as perturbed_copies leaves it
    mixed = perturb.embed_copies(clips, perturber, 0)
    assert torch.equal(mixed[0], plain[0]) and torch.equal(mixed[1], perturb.masked_embeddings(clips[1:], config, 0)[0])


def test_cli_parses_and_validates_the_options(tmp_path, sample_corpus):
    runner = CliRunner()
    base = ["-q", "kws", "train", str(sample_corpus), "--out", str(tmp_path / "run"), "--model", "small"]
    shown = runner.invoke(app, [*base, "--distortions", "band, room", "--mixup", "0.3", "--data-seed", "4", "--distortion-mode", "one", "--print-config"])  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert "- band" in shown.output and "- room" in shown.output and "mixup: 0.3" in shown.output
    assert "seed: 4" in shown.output and "choose: one" in shown.output
    bad = runner.invoke(app, [*base, "--distortions", "bandd"])
    assert bad.exit_code == 2 and "did you mean band" in bad.output


def test_training_with_distortions_specaugment_and_mixup_runs(tmp_path, sample_corpus):
    from dlcli.kws.train import train
    from tests.kws.conftest import tiny_config

    config = tiny_config("left-right")
    config.data.max_train_clips = 16
    config.perturb = PerturbConfig(distortions=["band", "codec", "specaugment"], mixup=0.3)
    result = train(sample_corpus, tmp_path / "run", config)
    assert result.best_path is not None and np.isfinite(result.best_metric)
