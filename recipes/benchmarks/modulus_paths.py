"""The modulus on the CPU: the default torch path against the opt-in C kernels (DLCLI_KERNELS=1).

Two figures, interleaved rounds, medians: the activation alone (forward+backward of 2^22
fp32 elements, relative to ReLU in the same round) and a whole training step of the small
keyword-spotting model with ``--activation modulus`` (batch 32), where the activation is one
cost among convolutions. One intra-op thread.

    python recipes/benchmarks/modulus_paths.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

from dlcli.kws.model import build_model, small_config
from dlcli.nn import kernels
from dlcli.nn.activations import _ModulusKernel, _ModulusTorch


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    lib = kernels.load(native=True)
    if lib is None:
        raise SystemExit("no C compiler: nothing to compare")
    x, grad = torch.randn(2**22), torch.randn(2**22)

    def activation(apply):
        leaf = x.clone().requires_grad_()
        apply(leaf).backward(grad)

    paths = {
        "relu": torch.relu,
        "torch path (default)": _ModulusTorch.apply,
        "C kernels (DLCLI_KERNELS=1)": lambda t: _ModulusKernel.apply(t, lib),
    }
    model = build_model(small_config(classes=12, activation="modulus"))
    waveforms, labels = torch.randn(32, 16000), torch.randint(0, 12, (32,))

    def training_step():
        F.cross_entropy(model(waveforms), labels).backward()
        model.zero_grad(set_to_none=True)

    times: dict[str, list[float]] = {name: [] for name in paths}
    steps: dict[str, list[float]] = {"torch path (default)": [], "C kernels (DLCLI_KERNELS=1)": []}
    training_step()  # warm-up
    for _ in range(args.rounds):
        for name, apply in paths.items():
            times[name].append(timed(lambda apply=apply: activation(apply)))
        for name, value in (("torch path (default)", "0"), ("C kernels (DLCLI_KERNELS=1)", "1")):
            os.environ[kernels.ENVIRONMENT] = value
            steps[name].append(timed(training_step))
    relu = statistics.median(times["relu"])
    result = {
        "activation_ms": {name: round(statistics.median(t) * 1e3, 2) for name, t in times.items()},
        "activation_vs_relu": {name: round(statistics.median(t) / relu, 2) for name, t in times.items()},
        "small_kws_step_ms": {name: round(statistics.median(t) * 1e3, 1) for name, t in steps.items()},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
