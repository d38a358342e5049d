import math

import pytest
import torch

from dlcli.errors import ConfigError
from dlcli.nn import kernels
from dlcli.nn.activations import _ModulusKernel, _ModulusTorch, make_activation
from dlcli.nn.names import ACTIVATIONS, canonical_name


def reference(name: str, x: torch.Tensor) -> torch.Tensor:
    """The formulas of the reference, in float64, written the naive way."""
    if name == "relu":
        return torch.clamp(x, min=0)
    if name == "leaky_relu":
        return torch.where(x > 0, x, 0.01 * x)
    if name == "tanh":
        return torch.tanh(x)
    if name == "elu":
        return torch.where(x > 0, x, torch.expm1(x))
    if name == "silu":
        return x * torch.sigmoid(x)
    if name == "mish":
        return x * torch.tanh(torch.nn.functional.softplus(x))
    if name == "pflu":
        return x * 0.5 * (1 + x / torch.sqrt(1 + x * x))
    if name == "fpflu":
        return torch.maximum(x, x / (1 + x * x))
    if name == "modulus":
        return x.abs()
    if name == "softmodulus_q":
        return torch.where(x.abs() <= 1, x * x * (2 - x.abs()), x.abs())
    if name == "softmodulus_t":
        return x * torch.tanh(x / 0.01)
    raise KeyError(name)


def reference_gradient(name: str, x: torch.Tensor) -> torch.Tensor:
    """Hand-derived derivatives (float64); ReLU-like kinks take torch's convention f'(0) = 0."""
    if name == "relu":
        return (x > 0).double()
    if name == "leaky_relu":
        return torch.where(x > 0, 1.0, 0.01).double()
    if name == "elu":
        return torch.where(x > 0, torch.ones_like(x), torch.exp(torch.clamp(x, max=0)))
    if name == "modulus":
        return torch.where(x < 0, -1.0, 1.0).double()
    if name == "softmodulus_q":
        return torch.where(x.abs() <= 1, 4 * x - 3 * x * x.abs(), torch.sign(x))
    if name == "softmodulus_t":
        t = torch.tanh(x / 0.01)
        return t + x / 0.01 * (1 - t * t)
    if name == "pflu":
        s = torch.sqrt(1 + x * x)
        return 0.5 * (1 + x / s) + 0.5 * x / s**3
    if name == "fpflu":
        return torch.where(x >= 0, torch.ones_like(x), (1 - x * x) / (1 + x * x) ** 2)
    leaf = x.clone().requires_grad_()
    reference(name, leaf).sum().backward()
    return leaf.grad


POINTS = torch.tensor([-1e6, -50.0, -3.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.3, 1.0, 2.5, 40.0, 1e6], dtype=torch.float64)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_values_and_gradients_match_the_formulas_in_float64(name):
    x = torch.cat([POINTS, torch.linspace(-4, 4, 401, dtype=torch.float64)]).requires_grad_()
    y = make_activation(name)(x)
    y.sum().backward()
    torch.testing.assert_close(y.detach(), reference(name, x.detach()), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(x.grad, reference_gradient(name, x.detach()), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_no_nan_or_inf_for_huge_inputs(name, dtype):
    x = torch.tensor([-3e38, -1e30, -1e19, -1e4, 0.0, 1e4, 1e19, 1e30, 3e38]).to(dtype).requires_grad_()
    y = make_activation(name)(x)
    y.backward(torch.ones_like(y))
    assert torch.isfinite(y).all(), y
    assert torch.isfinite(x.grad).all(), x.grad


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_gradcheck(name):
    torch.manual_seed(0)
    x = (torch.randn(64, dtype=torch.float64) * 2).requires_grad_()
    # keep away from the kinks of relu-like functions, where finite differences are meaningless
    x = torch.where(x.abs() < 0.05, x + 0.1, x).detach().requires_grad_()
    if name in ("softmodulus_t",):
        x = (x.detach() * 0.02).requires_grad_()  # the interesting region is |x| ~ beta
    assert torch.autograd.gradcheck(make_activation(name), (x,), eps=1e-6, atol=1e-5)


def test_modulus_gradient_at_zero_is_plus_one_unlike_torch_abs():
    x = torch.tensor([0.0, -0.0, 1.0, -1.0], requires_grad=True)
    make_activation("modulus")(x).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0, -1.0]
    y = torch.tensor([0.0], requires_grad=True)
    torch.abs(y).sum().backward()
    assert y.grad.item() == 0.0  # what the reference warns about


def _saved_bytes(function, x):
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        function(x.detach().requires_grad_())
    return sum(storages.values())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_modulus_saves_at_most_one_byte_per_element_and_less_than_torch_abs(dtype):
    x = torch.randn(10_001).to(dtype)
    modulus_bytes = _saved_bytes(make_activation("modulus"), x)
    abs_bytes = _saved_bytes(torch.abs, x)
    assert modulus_bytes <= x.numel()
    assert modulus_bytes <= abs_bytes / 4
    assert abs_bytes == x.numel() * x.element_size()


@pytest.mark.skipif(kernels.load() is None, reason="no C compiler: the torch path is the only path")
@pytest.mark.parametrize("native", [True, False], ids=["native-avx2", "portable"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
@pytest.mark.parametrize("size", [1, 7, 8, 9, 1000, 70_001])
def test_cpu_kernel_agrees_with_the_torch_path(dtype, size, native):
    """Both instruction-set builds of the opt-in kernels give the torch path's values and gradients."""
    lib = kernels.load(native=native)
    torch.manual_seed(size)
    x = torch.randn(size).to(dtype)
    x[: min(size, 3)] = torch.tensor([0.0, -0.0, -2.0])[: min(size, 3)].to(dtype)
    grad = torch.randn(size).to(dtype)
    results = []
    for apply in (lambda leaf: _ModulusKernel.apply(leaf, lib), _ModulusTorch.apply):
        leaf = x.clone().requires_grad_()
        y = apply(leaf)
        y.backward(grad)
        results.append((y, leaf.grad))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])


def test_modulus_without_grad_is_plain_abs():
    x = torch.randn(5)
    assert torch.equal(make_activation("modulus")(x), x.abs())


def test_modulus_keeps_its_gradient_under_torch_compile():
    module = torch.compile(make_activation("modulus"), backend="aot_eager", fullgraph=True)
    x = torch.tensor([0.0, -2.0, 3.0], requires_grad=True)
    module(x).sum().backward()
    assert x.grad.tolist() == [1.0, -1.0, 1.0]


def test_modulus_exports_to_onnx_as_abs(tmp_path):
    pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), make_activation("modulus")).eval()
    path = tmp_path / "m.onnx"
    torch.onnx.export(model, (torch.randn(2, 4),), str(path), input_names=["x"], dynamo=False)
    session = onnxruntime.InferenceSession(str(path))
    x = torch.randn(2, 4)
    (y,) = session.run(None, {"x": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(y), model(x), rtol=1e-5, atol=1e-6)


def test_registry_names_aliases_and_suggestions():
    assert canonical_name("Swish") == "silu"
    assert canonical_name("soft-modulus_t".replace("soft-", "soft")) == "softmodulus_t"
    with pytest.raises(ConfigError, match="did you mean 'modulus'"):
        canonical_name("modulsu")
    assert make_activation("softmodulus_t", beta=0.5).beta == 0.5
    with pytest.raises(ValueError):
        make_activation("softmodulus_t", beta=0.0)
    assert math.isclose(float(make_activation("leaky_relu")(torch.tensor(-1.0))), -0.01, rel_tol=1e-6)


def test_the_torch_path_is_the_default_and_the_kernels_are_opt_in(monkeypatch):
    monkeypatch.delenv(kernels.ENVIRONMENT, raising=False)
    assert kernels.library() is None  # nothing compiled at run time unless asked
    x = torch.randn(64, requires_grad=True)
    y = make_activation("modulus")(x)
    assert type(y.grad_fn).__name__.startswith("_ModulusTorch")
    monkeypatch.setenv(kernels.ENVIRONMENT, "1")
    if kernels.load() is not None:
        assert type(make_activation("modulus")(x).grad_fn).__name__.startswith("_ModulusKernel")


def test_the_torch_path_keeps_one_bit_per_element_on_odd_shapes():
    x = torch.randn(3, 5, 7).to(torch.bfloat16).requires_grad_()
    assert _saved_bytes(_ModulusTorch.apply, x) == (x.numel() + 7) // 8
    _ModulusTorch.apply(x).sum().backward()
    assert torch.equal(x.grad, torch.where(x < 0, -1.0, 1.0).to(torch.bfloat16))
