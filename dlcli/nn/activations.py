"""The activation registry: every model builds its nonlinearities through ``make_activation``.

Besides the usual ones it holds the modulus family of the dissertation's chapter 3:
``modulus`` |x| (gradient sign(x) with f'(0) = +1, unlike ``torch.abs`` whose gradient
at 0 is 0), and its smooth variants SoftModulusQ and SoftModulusT. The modulus keeps one
*bit* per element for its backward pass instead of the whole input. PFLU and FPFLU are
kept apart: the reference code's "pflu" was FPFLU.

The smooth functions have hand-written backward passes so that no intermediate can
overflow into inf * 0 = NaN for large |x| (autograd of the naive formulas does).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlcli.nn import kernels
from dlcli.nn.names import ACTIVATIONS, canonical_name

_KERNEL_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _exporting() -> bool:
    """True while tracing for TorchScript or ONNX: export |x| as the graph's own Abs."""
    onnx_export = getattr(torch.onnx, "is_in_onnx_export", None)
    return torch.jit.is_tracing() or torch.jit.is_scripting() or bool(onnx_export and onnx_export())


class _ModulusKernel(torch.autograd.Function):
    """|x| through the opt-in C kernels (CPU, ``DLCLI_KERNELS=1``): saves a packed bit mask, 1 bit per element."""

    @staticmethod
    def forward(ctx, x: Tensor, lib=None) -> Tensor:
        forward, backward = kernels.functions(x.dtype, lib)
        x = x.contiguous()
        n = x.numel()
        y = torch.empty_like(x)
        negative = torch.empty((n + 7) // 8, dtype=torch.uint8)
        forward(x.data_ptr(), y.data_ptr(), negative.data_ptr(), n, torch.get_num_threads())
        ctx.save_for_backward(negative)
        ctx.backward_kernel = backward
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (negative,) = ctx.saved_tensors
        grad = grad.contiguous()
        out = torch.empty_like(grad)
        ctx.backward_kernel(grad.data_ptr(), negative.data_ptr(), out.data_ptr(), grad.numel(), torch.get_num_threads())
        return out, None


_BIT_VALUES = (1, 2, 4, 8, 16, 32, 64, 128)


class _ModulusTorch(torch.autograd.Function):
    """|x| with torch operations (the default on every device): saves the signs packed 8 to a byte.

    Packing costs a few element-wise passes (about 4.5x ReLU's time on a CPU core, against
    3.9x for a 1-byte mask) and keeps 1 bit per element, 1/32 of what ``torch.abs`` keeps in fp32.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        bits = torch.tensor(_BIT_VALUES, dtype=torch.uint8, device=x.device)
        negative = (x < 0).reshape(-1)
        negative = F.pad(negative, (0, (-negative.numel()) % 8))
        packed = (negative.view(-1, 8).to(torch.uint8) * bits).sum(1, dtype=torch.uint8)  # [ceil(n / 8)]
        ctx.save_for_backward(packed)
        ctx.shape = x.shape
        return x.abs()

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (packed,) = ctx.saved_tensors
        bits = torch.tensor(_BIT_VALUES, dtype=torch.uint8, device=packed.device)
        negative = (packed[:, None] & bits).ne(0).reshape(-1)[: grad.numel()].view(ctx.shape)  # [ceil(n/8) * 8] -> x's
        return torch.where(negative, -grad, grad)


def modulus(x: Tensor) -> Tensor:
    """f(x) = |x|, f'(x) = sign(x) with f'(0) = +1 (dissertation ch. 3)."""
    if _exporting() or not (torch.is_grad_enabled() and x.requires_grad):
        return x.abs()  # no backward pass: nothing to save, and exporters see a plain Abs
    if torch.compiler.is_compiling():
        return _ModulusTorch.apply(x)  # traceable; the compiler fuses it
    if x.device.type == "cpu" and x.dtype in _KERNEL_DTYPES and kernels.library() is not None:
        return _ModulusKernel.apply(x)
    return _ModulusTorch.apply(x)


class _SoftModulusQ(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        inner = x.clamp(-1.0, 1.0)
        return torch.where(x.abs() <= 1.0, inner * inner * (2.0 - inner.abs()), x.abs())

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        inner = x.clamp(-1.0, 1.0)
        slope = torch.where(x.abs() <= 1.0, inner * (4.0 - 3.0 * inner.abs()), torch.sign(x))
        return grad * slope


class _SoftModulusT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, beta: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.beta = beta
        return x * torch.tanh(x / beta)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        # beyond |x / beta| = 20 tanh is exactly +-1 even in float64: clamping keeps x / beta finite
        u = (x / ctx.beta).clamp(-20.0, 20.0)
        t = torch.tanh(u)
        return grad * (t + u * (1.0 - t) * (1.0 + t)), None


class _PFLU(torch.autograd.Function):
    """x (1 + x / sqrt(1 + x^2)) / 2 (Zhu et al., 2021), overflow-safe through hypot."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        ratio = x / torch.hypot(x, torch.ones_like(x))
        return 0.5 * x * (1.0 + ratio)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        inverse = 1.0 / torch.hypot(x, torch.ones_like(x))
        ratio = x * inverse
        # d/dx = (1 + u) / 2 + u / (2 (1 + x^2)), u = x / sqrt(1 + x^2): no inf - inf for large |x|
        return grad * (0.5 * (1.0 + ratio) + 0.5 * ratio * inverse * inverse)


class _FPFLU(torch.autograd.Function):
    """max(x, x / (1 + x^2)): x for x >= 0, x / (1 + x^2) below."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        r = 1.0 / (1.0 + x * x)
        return torch.where(x >= 0, x, x * r)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        r = 1.0 / (1.0 + x * x)
        xr = x * r
        # (1 - x^2) / (1 + x^2)^2 written as r^2 - (x r)^2: finite where x^2 overflows
        return grad * torch.where(x >= 0, torch.ones_like(x), r * r - xr * xr)


class Modulus(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return modulus(x)


class SoftModulusQ(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return _SoftModulusQ.apply(x)


class SoftModulusT(nn.Module):
    def __init__(self, beta: float = 0.01):
        super().__init__()
        if beta <= 0:
            raise ValueError(f"softmodulus_t needs beta > 0, not {beta}")
        self.beta = float(beta)

    def forward(self, x: Tensor) -> Tensor:
        return _SoftModulusT.apply(x, self.beta)

    def extra_repr(self) -> str:
        return f"beta={self.beta}"


class PFLU(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return _PFLU.apply(x)


class FPFLU(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return _FPFLU.apply(x)


_FACTORIES = {
    "relu": lambda **_: nn.ReLU(),
    "leaky_relu": lambda **_: nn.LeakyReLU(0.01),
    "tanh": lambda **_: nn.Tanh(),
    "elu": lambda **_: nn.ELU(),
    "silu": lambda **_: nn.SiLU(),
    "mish": lambda **_: nn.Mish(),
    "pflu": lambda **_: PFLU(),
    "fpflu": lambda **_: FPFLU(),
    "modulus": lambda **_: Modulus(),
    "softmodulus_q": lambda **_: SoftModulusQ(),
    "softmodulus_t": lambda beta=0.01, **_: SoftModulusT(beta=beta),
}
assert set(_FACTORIES) == set(ACTIVATIONS), "every registered name needs a factory"


def make_activation(name: str, *, beta: float | None = None) -> nn.Module:
    """A fresh activation module by registry name (``beta`` is for softmodulus_t)."""
    key = canonical_name(name)
    return _FACTORIES[key](**({} if beta is None else {"beta": beta}))


def activation_function(name: str, *, beta: float | None = None):
    """The activation as a plain function of a tensor."""
    module = make_activation(name, beta=beta)
    return module.forward


__all__ = ["make_activation", "activation_function", "modulus", "Modulus", "SoftModulusQ", "SoftModulusT"]
__all__ += ["PFLU", "FPFLU", "ACTIVATIONS", "canonical_name"]
