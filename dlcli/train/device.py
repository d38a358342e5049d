"""Device and numeric precision: CUDA when present, mixed precision in the hot path."""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

from dlcli.errors import UsageError


def choose_device(name: str = "auto", *, local_rank: int | None = None) -> torch.device:
    """``auto`` picks CUDA (this process's local rank under torchrun), then MPS, then the CPU."""
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank or 0)
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device '{name}' (use auto, cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device '{name}' asked for, but this torch build sees no CUDA GPU")
        if device.index is None and local_rank is not None:
            device = torch.device("cuda", local_rank)
        if (device.index or 0) >= torch.cuda.device_count():
            raise UsageError(f"device '{name}' asked for, but only {torch.cuda.device_count()} GPU(s) are visible")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError("device 'mps' asked for, but MPS is not available")
    return device


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu"


def resolve_precision(requested: str, device: torch.device) -> str:
    """``auto``: bf16 on GPUs that support it, fp16 (with loss scaling) on older GPUs, fp32 elsewhere."""
    requested = (requested or "auto").lower()
    if requested == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"
    if requested not in ("fp32", "bf16", "fp16"):
        raise UsageError(f"unknown precision '{requested}' (use auto, fp32, bf16 or fp16)")
    if requested == "bf16" and not bf16_supported(device):
        raise UsageError(f"bf16 is not supported on {device}")
    if requested == "fp16" and device.type == "cpu":
        raise UsageError("fp16 training is for GPUs; use bf16 or fp32 on the CPU")
    return requested


def autocast(device: torch.device, precision: str):
    """The autocast context for ``precision`` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """Every random generator's state, as checkpoint-safe values (no NumPy objects)."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(_as_tuples(state["python"]))
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["position"], n["has_gauss"], n["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        with contextlib.suppress(RuntimeError):
            torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuples(value):
    if isinstance(value, list):
        return tuple(_as_tuples(v) for v in value)
    if isinstance(value, tuple):
        return tuple(_as_tuples(v) for v in value)
    return value


THREADS_ENVIRONMENT = "DLCLI_THREADS"


def configure_threads(threads: int | None = None, default: int | None = None) -> int:
    """The one threads rule of every command: ``--threads``, else DLCLI_THREADS, else the command's
    own ``default``, else torch's (which follows OMP_NUM_THREADS). Returns the intra-op threads in use."""
    from dlcli.errors import UsageError

    wanted = threads or os.environ.get(THREADS_ENVIRONMENT) or default
    if wanted:
        try:
            count = int(wanted)
        except ValueError:
            raise UsageError(f"{THREADS_ENVIRONMENT} must be a whole number, not {wanted!r}") from None
        torch.set_num_threads(max(1, count))
    return torch.get_num_threads()
