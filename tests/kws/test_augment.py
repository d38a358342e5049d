import math

import torch

from dlcli.kws.augment import (
    AugmentConfig,
    Augmenter,
    distort,
    mix_background,
    pitch_shift,
    resample_and_offset,
    time_stretch,
)


def tone(frequency: float, batch: int = 1) -> torch.Tensor:
    t = torch.arange(16000) / 16000
    return (torch.sin(2 * math.pi * frequency * t) * torch.hann_window(16000))[None].repeat(batch, 1)


def dominant_hz(x: torch.Tensor) -> list[float]:
    return (torch.fft.rfft(x).abs().argmax(-1).float() * 16000 / x.shape[-1]).tolist()


def test_pitch_shift_moves_the_pitch_and_keeps_duration_and_energy():
    x = tone(440.0, 3)
    shifted = pitch_shift(x, torch.tensor([12.0, -3.0, 0.0]))
    assert shifted.shape == x.shape
    expected = [880.0, 440.0 * 2 ** (-3 / 12), 440.0]
    assert all(abs(got - want) <= 2.0 for got, want in zip(dominant_hz(shifted), expected))
    energy = shifted.pow(2).sum(-1) / x.pow(2).sum(-1)
    assert (energy > 0.95).all()  # phase locking keeps a pure tone coherent
    # the envelope stays where it was: most energy in the middle half of the second
    assert (shifted[:, 4000:12000].pow(2).sum(-1) / shifted.pow(2).sum(-1) > 0.8).all()


def test_time_stretch_changes_length_not_pitch():
    x = tone(500.0, 2)
    stretched = time_stretch(x, torch.tensor([0.5, 2.0]))
    assert abs(stretched.shape[-1] - 32000) < 600
    slow = stretched[0]
    assert abs(dominant_hz(slow[None])[0] - 500.0) < 2.0
    assert slow[20000:28000].abs().max() > 0.5  # the tone now lasts about twice as long
    assert stretched[1, 9000:].abs().max() < 0.05  # and half as long at rate 2


def test_resample_and_offset_about_the_centre():
    x = torch.zeros(2, 16000)
    x[:, 8500] = 1.0  # an impulse 500 samples after the centre
    out = resample_and_offset(x, torch.tensor([2.0, 1.0]), torch.tensor([0.0, 300.0]))
    assert abs(int(out[0].argmax()) - (7999.5 + 2 * 500.5)) <= 1  # stretched away from the centre
    assert int(out[1].argmax()) == 8800  # shifted right, zero filled
    assert out[1, :300].abs().max() == 0


def test_distort_keeps_each_clips_peak_and_varies_per_clip():
    torch.manual_seed(0)
    x = torch.randn(8, 16000) * torch.linspace(0.1, 1.0, 8)[:, None]
    y = distort(x, AugmentConfig())
    assert torch.allclose(y.abs().amax(-1), x.abs().amax(-1), rtol=1e-4)
    assert not torch.allclose(y, x)
    differences = (y - x).pow(2).mean(-1) / x.pow(2).mean(-1)
    assert differences.std() > 0  # each clip its own random intensities


def test_saturation_clips_when_p_is_below_one():
    torch.manual_seed(1)
    config = AugmentConfig(
        pitch_octaves_std=0, resample_std=0, offset_std=0, noise_std=0, saturation_rate=1e6, saturation_scale=0.5
    )
    x = torch.sin(torch.linspace(0, 40, 16000))[None]
    y = distort(x, config)  # p = 0.5: clipped at half the peak, then scaled back to the peak
    assert torch.allclose(y, (x.clamp(-0.5, 0.5) / 0.5), atol=1e-4)


def test_background_mixing_hits_the_requested_snr():
    torch.manual_seed(0)
    x = torch.randn(16, 16000)
    noise = torch.randn(80000) * 3
    config = AugmentConfig(background_probability=1.0, background_snr_db=[10.0, 10.0])
    mixed = mix_background(x, noise, config)
    snr = 10 * torch.log10(x.pow(2).mean(-1) / (mixed - x).pow(2).mean(-1))
    assert torch.allclose(snr, torch.full_like(snr, 10.0), atol=0.05)
    none = mix_background(x, noise, AugmentConfig(background_probability=0.0))
    assert torch.equal(none, x)


def test_augmenter_moves_its_noise_with_the_batch():
    augmenter = Augmenter(AugmentConfig(), torch.randn(40000))
    out = augmenter.to(torch.device("cpu"))(torch.randn(4, 16000))
    assert out.shape == (4, 16000) and torch.isfinite(out).all()
