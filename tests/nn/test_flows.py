import math

import pytest
import torch

from dlcli.nn.flows import ActNorm1d, AffineCoupling, Glow1d, InvertibleConv1x1


def _trained_flow(features=32, channels=8, steps=4) -> Glow1d:
    """A flow moved away from the identity by a few likelihood steps on skewed data."""
    torch.manual_seed(0)
    flow = Glow1d(channels, features // channels, steps=steps, hidden=16)
    data = torch.rand(256, features) ** 3
    optimizer = torch.optim.Adam(flow.parameters(), lr=1e-2)
    for _ in range(30):
        loss = -flow.log_prob(data).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return flow.eval()


def test_round_trip_is_exact_within_1e_4():
    flow = _trained_flow()
    x = torch.rand(64, 32) ** 3
    with torch.no_grad():
        z, _ = flow(x)
        back = flow.inverse(z)
        assert (back - x).abs().max() < 1e-4
        z2 = torch.randn(64, 32)
        assert (flow(flow.inverse(z2))[0] - z2).abs().max() < 1e-4
    assert not torch.allclose(z, x, atol=1e-2)  # the flow is not the identity


def test_log_determinant_matches_autograd_jacobian():
    flow = _trained_flow(features=8, channels=4, steps=2).double()
    x = torch.rand(1, 8, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(lambda v: flow(v)[0].double(), x).reshape(8, 8)
    with torch.no_grad():
        _, logdet = flow(x)
    assert float(logdet) == pytest.approx(float(torch.linalg.slogdet(jacobian)[1]), abs=1e-3)


@pytest.mark.parametrize("layer", [ActNorm1d(6), InvertibleConv1x1(6, seed=3), AffineCoupling(6, 8)])
def test_each_layer_inverts(layer):
    torch.manual_seed(1)
    if isinstance(layer, AffineCoupling):
        torch.nn.init.normal_(layer.net[-1].weight, std=0.3)
    x = torch.randn(5, 6, 4)
    y, logdet = layer(x)
    assert logdet.shape == (5,)
    assert torch.allclose(layer.inverse(y), x, atol=1e-5)


def test_standard_normal_log_prob_of_fresh_flow():
    flow = Glow1d(4, 2, steps=2, hidden=8).eval()  # actnorm uninitialised: the identity
    flow.steps.apply(lambda m: None)
    x = torch.zeros(1, 8)
    with torch.no_grad():
        z, logdet = flow(x)
    expected = -0.5 * z.pow(2).sum() - 4 * math.log(2 * math.pi) + logdet
    with torch.no_grad():
        assert float(flow.log_prob(x)) == pytest.approx(float(expected), abs=1e-5)
