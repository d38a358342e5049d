import math

import torch

from dlcli.kws.augment import (
    AugmentConfig,
    Augmenter,
    distort,
    draw_semitones,
    mix_background,
    pitch_shift,
    resample_and_offset,
    time_stretch,
    warp_filterbank,
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


def voiced(batch: int, seed: int = 0) -> torch.Tensor:
    """Harmonic complexes (f0 100-250 Hz, 15 harmonics), slowly modulated, like voiced speech."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(16000) / 16000
    f0 = 100 + 150 * torch.rand(batch, 1, generator=generator)
    phases = 6.28 * torch.rand(batch, 15, generator=generator)
    x = sum(torch.sin(2 * math.pi * k * f0 * t + phases[:, k - 1 : k]) / k for k in range(1, 16))
    return x * torch.hann_window(16000) * (1 + 0.3 * torch.sin(2 * math.pi * 3 * t))


def test_spectrogram_warp_shifts_pitch_as_the_phase_vocoder_does():
    """The log-mel the model sees: a clip through the warped filters against the clip shifted by the vocoder."""
    from dlcli.kws.model import LogMelFrontEnd

    front_end = LogMelFrontEnd()
    x = voiced(16)
    octaves = draw_semitones(16, AugmentConfig(), generator=torch.Generator().manual_seed(1)) / 12

    def log_mel(clips: torch.Tensor, factors: torch.Tensor | None = None) -> torch.Tensor:
        front_end.pitch_factors = factors
        try:
            return front_end(clips)
        finally:
            front_end.pitch_factors = None

    def spectrum(features: torch.Tensor) -> torch.Tensor:  # (B, n_mels): the clip's average, in log
        return torch.log(features.exp().mean(-1) + 1e-6)

    with torch.no_grad():
        vocoder = log_mel(pitch_shift(x, 12 * octaves))  # the reference, on the waveform
        warped, original = log_mel(x, 2**octaves), log_mel(x)
        # each clip's shift as seen in the vocoder's output: the warp of the original that matches it best
        grid = torch.linspace(-0.4, 0.4, 81)
        distances = torch.stack(
            [(spectrum(log_mel(x, torch.full((16,), 2**g))) - spectrum(vocoder)).pow(2).mean(-1) for g in grid]
        )
    seen = grid[distances.argmin(0)]  # (the same estimate finds the warp's own factors within 0.003 octave)
    assert (seen - octaves).abs().max() < 0.08  # clip by clip within a semitone (the shifts' std: 1.2)
    assert abs(seen.mean() - octaves.mean()) < 0.025 and abs(seen.std() - octaves.std()) < 0.01
    # and frame by frame the warp is far nearer the vocoder than the unshifted clip is
    assert (warped - vocoder).abs().mean() < 0.7 * (original - vocoder).abs().mean()


def test_warped_filters_move_a_line_by_the_factor():
    filters = torch.zeros(1, 101)
    filters[0, 40] = 1.0  # a filter that reads bin 40 only
    warped = warp_filterbank(filters, torch.tensor([1.0, 2.0, 0.5]))
    assert torch.equal(warped[0], filters)
    assert warped[1, 0].argmax() == 20  # pitch up by an octave: the line at bin 20 lands on bin 40
    assert warped[2, 0].argmax() == 80 and warped[2, 0, 100] == 0  # down: bins past Nyquist read nothing


def test_pitch_factors_follow_the_reference_distribution():
    config = AugmentConfig()
    augmenter = Augmenter(config, torch.randn(40000))
    x = torch.randn(2000, 1600) * 0.1
    _, factors = augmenter.with_pitch_factors(x, generator=torch.Generator().manual_seed(0))
    octaves = torch.log2(factors)
    assert abs(octaves.mean()) < 0.01 and abs(octaves.std() - config.pitch_octaves_std) < 0.01
    expected = draw_semitones(2000, config, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(factors, 2 ** (expected / 12))


def test_a_generator_makes_the_draws_repeatable_and_leaves_the_global_rng_alone():
    augmenter = Augmenter(AugmentConfig(), torch.randn(40000))
    x = torch.randn(4, 16000) * 0.1
    state = torch.get_rng_state()
    first = augmenter(x, generator=torch.Generator().manual_seed(3))
    second = augmenter(x, generator=torch.Generator().manual_seed(3))
    warped, factors = augmenter.with_pitch_factors(x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first, second) and not torch.equal(first, augmenter(x, generator=torch.Generator()))
    assert torch.isfinite(warped).all() and factors.shape == (4,)


def test_pitch_warp_reaches_the_log_mel_front_end_only_inside_the_block():
    from dlcli.kws.model import XceptionConfig, build_model, pitch_warp, small_config

    torch.manual_seed(0)
    model = build_model(small_config(classes=3, width=0.125, middle_blocks=1)).eval()
    x = voiced(2)
    with torch.no_grad():
        plain = model(x)
        with pitch_warp(model, torch.ones(2)) as warps:
            same = model(x)
        with pitch_warp(model, torch.tensor([1.3, 0.8])):
            shifted = model(x)
        after = model(x)
    assert warps and torch.allclose(plain, same, atol=1e-5) and torch.equal(plain, after)
    assert not torch.allclose(plain, shifted, atol=1e-3)
    waveform_model = build_model(XceptionConfig(classes=3, width=0.0625, middle_blocks=0, pooling="mean"))
    with pitch_warp(waveform_model, torch.ones(2)) as warps:
        assert not warps
