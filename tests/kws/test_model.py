import warnings

import pytest
import torch

from dlcli.kws.model import (
    LogMelFrontEnd,
    SeparableConv1d,
    XceptionBlock,
    XceptionConfig,
    _length_after,
    build_model,
    count_parameters,
    multiply_accumulates,
    small_config,
)


def test_xception1d_has_the_reference_size():
    assert _length_after(16000) == 32  # the flattened map is 2048 x 32
    three, thirty_five = build_model(XceptionConfig(classes=3)), build_model(XceptionConfig(classes=35))
    assert count_parameters(three) == 21_503_435  # "about 21.5M for 3 classes"
    assert count_parameters(thirty_five) == 23_600_619  # "23.6M for 35"
    # the difference is the classifier alone: 32 more classes x (2048 x 32 inputs + 1 bias)
    assert count_parameters(thirty_five) - count_parameters(three) == 32 * (2048 * 32 + 1)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in three.modules())
    # 37 layers: 34 depthwise-separable, 2 regular convolutions, 1 dense; instance norm before each separable
    assert sum(isinstance(m, SeparableConv1d) for m in three.modules()) == 34
    assert sum(isinstance(m, torch.nn.InstanceNorm1d) for m in three.modules()) == 1 + 34
    assert sum(isinstance(m, XceptionBlock) for m in three.modules()) == 12  # 12 residual connections


def test_forward_shapes_and_batch_independence():
    torch.manual_seed(0)
    model = build_model(small_config(classes=5, width=0.125, middle_blocks=1)).eval()
    clips = torch.randn(4, 16000)
    logits = model(clips)
    assert logits.shape == (4, 5)
    # no batch norm: a clip's output does not depend on its batch neighbours, nor on its scale
    assert torch.allclose(model(clips[:1]), logits[:1], atol=1e-5)
    assert torch.allclose(model(3.0 * clips[1:2]), logits[1:2], atol=1e-4)
    assert model(clips.unsqueeze(1)).shape == (4, 5)


@pytest.mark.parametrize("activation", ["relu", "modulus", "softmodulus_t"])
def test_any_activation_trains(activation):
    torch.manual_seed(0)
    model = build_model(small_config(classes=3, width=0.125, middle_blocks=1, activation=activation))
    loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 16000)), torch.tensor([0, 2]))
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    expected = {"relu": "ReLU", "modulus": "Modulus", "softmodulus_t": "SoftModulusT"}[activation]
    assert type(model.final_activation).__name__ == expected


@pytest.mark.parametrize("frontend", ["waveform", "logmel"])
def test_pooled_features_tell_clips_apart(frontend):
    """Average pooling right after instance norm would give every clip the same features."""
    torch.manual_seed(0)
    model = build_model(small_config(classes=3, frontend=frontend, width=0.125, middle_blocks=1)).eval()
    quiet_then_loud = torch.cat([0.01 * torch.randn(1, 8000), torch.randn(1, 8000)], dim=1)
    tone = torch.sin(torch.arange(16000) * 0.3)[None]
    features = model.features(torch.cat([quiet_then_loud, tone]))
    assert (features[0] - features[1]).abs().mean() > 0.1 * features.abs().mean()


def test_logmel_front_end_exports_the_same_transform():
    front = LogMelFrontEnd()
    x = torch.randn(3, 16000)
    eager = front.power(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(lambda clips: front.power(clips), (x,), check_trace=False)(x)  # export's path
    assert eager.shape == (3, 201, 101)
    assert ((eager - traced).abs().max() / eager.abs().max()) < 1e-5
    # Parseval: the frame energies match the windowed samples' energy
    frame = torch.nn.functional.pad(x, (200, 200))[0, 1600:2000] * torch.hann_window(400)
    bins = eager[0, :, 10]
    energy = (2 * bins.sum() - bins[0] - bins[-1]) / 400
    assert torch.isclose(energy, frame.pow(2).sum(), rtol=1e-4)


def test_flatten_head_needs_one_second_clips_and_mean_head_takes_any_length():
    flat = build_model(XceptionConfig(classes=3, width=0.125, middle_blocks=0)).eval()
    with pytest.raises(ValueError, match="16000-sample"):
        flat(torch.randn(1, 12000))
    pooled = build_model(small_config(classes=3, width=0.125)).eval()
    assert pooled(torch.randn(1, 24000)).shape == (1, 3)


def test_mac_count_matches_a_hand_count_for_the_stem():
    model = build_model(small_config(classes=3, width=0.125, middle_blocks=0))
    total = multiply_accumulates(model)
    stem = 8 * 4000 * 9 + 8 * 2000 * 8 * 5  # conv 1->8 (k 9, 4000 out) and conv 8->8 (k 5, 2000 out)
    assert (
        total > stem
        and multiply_accumulates(build_model(small_config(classes=3, width=0.125, middle_blocks=2))) > total
    )
