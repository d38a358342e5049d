"""Blending calibrated teacher probabilities into one soft target per example (dissertation 4.4.2).

All functions take ``probabilities`` of shape (teachers, batch, classes) and return
(batch, classes). Aggregative: mean, median (renormalised). Selective (one teacher per
example): random (redrawn every epoch), min-entropy, max-correlation, best (always the
teacher with the best dev accuracy); and the paper's controls max-entropy and
min-correlation, which should lose.
"""

from __future__ import annotations

import torch
from torch import Tensor

BLENDS = ("mean", "median", "random", "min-entropy", "max-correlation", "best", "max-entropy", "min-correlation")
CONTROLS = ("max-entropy", "min-correlation")


def _select(probabilities: Tensor, teacher: Tensor) -> Tensor:
    """Pick teacher[i] for example i: (teachers, batch, classes), (batch,) -> (batch, classes)."""
    batch = torch.arange(probabilities.shape[1], device=probabilities.device)
    return probabilities[teacher, batch]


def entropy(probabilities: Tensor) -> Tensor:
    """Shannon entropy along the last axis (0 log 0 = 0)."""
    return -(probabilities * torch.log(probabilities.clamp_min(1e-30))).sum(-1)


def mean_correlation(probabilities: Tensor) -> Tensor:
    """Per example, each teacher's mean Pearson correlation with the others: (teachers, batch)."""
    teachers = probabilities.shape[0]
    centred = probabilities - probabilities.mean(-1, keepdim=True)
    unit = centred / centred.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    correlation = torch.einsum("tbc,sbc->bts", unit, unit)  # (batch, teachers, teachers)
    return ((correlation.sum(-1) - 1.0) / max(teachers - 1, 1)).transpose(0, 1)


def example_hash(indices: Tensor, seed: int, epoch: int) -> Tensor:
    """A per-example pseudo-random integer that depends only on (seed, epoch, example index)."""
    x = indices.to(torch.int64) * 0x9E3779B1 + (seed * 1_000_003 + epoch) * 0x85EBCA6B
    x = x & 0xFFFFFFFF
    x = ((x ^ (x >> 16)) * 0x45D9F3B) & 0xFFFFFFFF
    x = ((x ^ (x >> 16)) * 0x45D9F3B) & 0xFFFFFFFF
    return x ^ (x >> 16)


def blend(
    method: str,
    probabilities: Tensor,
    *,
    indices: Tensor | None = None,
    seed: int = 0,
    epoch: int = 0,
    best_teacher: int = 0,
) -> Tensor:
    """The soft target of ``method`` for a batch (see the module docstring)."""
    if method == "mean":
        return probabilities.mean(0)
    if method == "median":
        median = probabilities.median(0).values
        total = median.sum(-1, keepdim=True)
        return torch.where(total > 0, median / total.clamp_min(1e-30), probabilities.mean(0))
    if method == "best":
        return probabilities[best_teacher]
    if method == "random":
        if indices is None:
            raise ValueError("the random blend needs the examples' indices")
        teacher = example_hash(indices.to(probabilities.device), seed, epoch) % probabilities.shape[0]
        return _select(probabilities, teacher)
    if method in ("min-entropy", "max-entropy"):
        spread = entropy(probabilities)  # (teachers, batch)
        teacher = spread.argmin(0) if method == "min-entropy" else spread.argmax(0)
        return _select(probabilities, teacher)
    if method in ("max-correlation", "min-correlation"):
        agreement = mean_correlation(probabilities)
        teacher = agreement.argmax(0) if method == "max-correlation" else agreement.argmin(0)
        return _select(probabilities, teacher)
    raise ValueError(f"unknown blend '{method}' (use {', '.join(BLENDS)})")
