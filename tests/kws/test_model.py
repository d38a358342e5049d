import pytest
import torch

from dlcli.kws.model import (
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
    model = build_model(small_config(classes=3, width=0.125, middle_blocks=0, activation=activation))
    loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 16000)), torch.tensor([0, 2]))
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert type(model.entry[1]).__name__.lower().replace("_", "") in (activation.replace("_", ""), "relu")


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
