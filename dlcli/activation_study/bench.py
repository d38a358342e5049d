"""Cost of each activation: forward+backward time relative to ReLU, and bytes kept for backward.

Times are medians of interleaved repeats (every activation measured in each round, so
a noisy neighbour slows all of them alike) and reported as ratios to ReLU measured in
the same run. Saved memory is measured with ``saved_tensors_hooks``: the bytes of the
storages autograd keeps between forward and backward, per input element.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor

from dlcli.nn.activations import make_activation
from dlcli.nn.names import ACTIVATIONS
from dlcli.train.device import choose_device

REFERENCE = "relu"
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _functions() -> dict[str, Callable[[Tensor], Tensor]]:
    functions: dict[str, Callable[[Tensor], Tensor]] = {"torch.abs": torch.abs}
    for name in ACTIVATIONS:
        functions[name] = make_activation(name)
    return functions


def saved_bytes(function: Callable[[Tensor], Tensor], x: Tensor) -> int:
    """Bytes of the distinct storages autograd saves for the backward of ``function(x)``."""
    storages: dict[int, int] = {}

    def pack(tensor: Tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    leaf = x.detach().requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        function(leaf)
    return sum(storages.values())


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def benchmark_activations(
    *,
    elements: int = 2**24,
    dtypes: tuple[str, ...] | None = None,
    device: str = "auto",
    rounds: int = 7,
    iterations: int | None = None,
    measure_seconds: float = 0.025,
    names: list[str] | None = None,
) -> dict:
    """Time and memory of every activation on one tensor; returns a JSON-ready dict."""
    target = choose_device(device)
    if dtypes is None:
        dtypes = ("fp32", "bf16")
    functions = _functions()
    if names:
        functions = {k: v for k, v in functions.items() if k in names or k in (REFERENCE, "torch.abs")}
    rows: dict[str, dict] = {}
    counts: dict[str, int] = {}
    for dtype_name in dtypes:
        dtype = DTYPES[dtype_name]
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(elements, generator=generator).to(device=target, dtype=dtype)
        grad = torch.randn(elements, generator=generator).to(device=target, dtype=dtype)
        times: dict[str, list[float]] = {name: [] for name in functions}

        def run(function, x=x, grad=grad) -> None:
            leaf = x.detach().requires_grad_()
            function(leaf).backward(grad)

        for name, function in functions.items():  # warm up (builds the modulus kernels) and calibrate
            run(function)
            _synchronize(target)
            start = time.perf_counter()
            run(function)
            _synchronize(target)
            single = max(time.perf_counter() - start, 1e-6)
            counts[name] = iterations or max(1, min(200, round(measure_seconds / single)))
        for _ in range(rounds):
            for name, function in functions.items():
                _synchronize(target)
                start = time.perf_counter()
                for _ in range(counts[name]):
                    run(function)
                _synchronize(target)
                times[name].append((time.perf_counter() - start) / counts[name])
        reference = statistics.median(times[REFERENCE])
        for name, function in functions.items():
            median = statistics.median(times[name])
            rows.setdefault(dtype_name, {})[name] = {
                "ms": median * 1e3,
                "time_vs_relu": median / reference,
                "saved_bytes_per_element": saved_bytes(function, x) / elements,
            }
    abs_bytes = {d: rows[d]["torch.abs"]["saved_bytes_per_element"] for d in rows}
    for dtype_name, table in rows.items():
        for row in table.values():
            row["saved_vs_abs"] = (
                row["saved_bytes_per_element"] / abs_bytes[dtype_name] if abs_bytes[dtype_name] else None
            )
    return {
        "device": str(target),
        "device_name": torch.cuda.get_device_name(target) if target.type == "cuda" else _cpu_name(),
        "threads": torch.get_num_threads(),
        "elements": elements,
        "measure_seconds": measure_seconds,
        "rounds": rounds,
        "torch": torch.__version__,
        "results": rows,
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "cpu"


def bench_markdown(bench: dict) -> str:
    lines = [
        f"Device: {bench['device']} ({bench['device_name']}), {bench['threads']} threads, torch {bench['torch']}; "
        f"{bench['elements']:,} elements; each figure is the median of {bench['rounds']} interleaved rounds, "
        f"each round timing about {1000 * bench['measure_seconds']:.0f} ms of forward+backward passes.",
        "",
    ]
    dtypes = list(bench["results"])
    header = (
        "| activation | " + " | ".join(f"{d} time vs ReLU | {d} saved B/elem | {d} saved vs abs" for d in dtypes) + " |"
    )
    lines += [header, "|---|" + "---:|" * (3 * len(dtypes))]
    for name in bench["results"][dtypes[0]]:
        cells = []
        for d in dtypes:
            row = bench["results"][d][name]
            cells += [
                f"{row['time_vs_relu']:.2f}x",
                f"{row['saved_bytes_per_element']:.3g}",
                f"{row['saved_vs_abs']:.3g}",
            ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
