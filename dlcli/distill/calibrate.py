"""Temperature calibration: the T that gives a model a chosen mean top-class probability.

Every teacher and the student are calibrated on the transfer set so that the mean, over
the set, of max_c softmax(z / T)_c equals S (the paper's S = 0.35 gives T ~ 2 on
ImageNet). That mean falls monotonically from 1 (T -> 0) to 1 / C (T -> infinity), so
bisection finds the root; the reference bracket [1, 6] fails when the root lies
outside it, so the bracket is widened geometrically until it holds the root.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from dlcli.errors import UsageError


@dataclass
class Calibration:
    temperature: float
    confidence: float  # mean top-class probability reached at that temperature
    target: float
    iterations: int
    bracket: tuple[float, float]  # the bracket that finally held the root

    def as_dict(self) -> dict:
        return asdict(self)


def mean_top_probability(logits: np.ndarray | torch.Tensor, temperature: float, chunk: int = 65536) -> float:
    """Mean over rows of the largest softmax(logits / T) entry, streamed in chunks (memmaps welcome)."""
    total, count = 0.0, 0
    for start in range(0, len(logits), chunk):
        block = torch.as_tensor(np.asarray(logits[start : start + chunk]), dtype=torch.float64)
        total += torch.softmax(block / temperature, dim=1).max(dim=1).values.sum().item()
        count += block.shape[0]
    return total / max(count, 1)


def find_temperature(
    logits: np.ndarray | torch.Tensor,
    target: float = 0.35,
    *,
    low: float = 1.0,
    high: float = 6.0,
    tolerance: float = 1e-5,
    max_iterations: int = 200,
) -> Calibration:
    """Bisection (in log T) for mean_top_probability(logits, T) == target, widening the bracket as needed."""
    classes = logits.shape[1]
    if not 1.0 / classes < target < 1.0:
        raise UsageError(f"target confidence must lie between 1/classes ({1 / classes:.3g}) and 1, not {target}")
    f = lambda t: mean_top_probability(logits, t) - target  # noqa: E731  (decreasing in t)
    iterations = 0
    f_low = f(low)
    while f_low < 0:  # even T = low is too soft: lower it
        low /= 4
        f_low = f(low)
        iterations += 1
        if low < 1e-6:
            reachable = mean_top_probability(logits, low)
            raise UsageError(
                f"no temperature reaches a mean top probability of {target}: the model tops out at {reachable:.3f} "
                "(ties or identical outputs); choose a lower --target-confidence"
            )
    f_high = f(high)
    while f_high > 0:  # even T = high is too sharp: raise it
        high *= 4
        f_high = f(high)
        iterations += 1
        if high > 1e8:
            raise UsageError(f"no finite temperature brings the mean top probability down to {target}")
    bracket = (low, high)
    while iterations < max_iterations and high / low > 1 + tolerance:
        middle = math.sqrt(low * high)
        if f(middle) > 0:
            low = middle
        else:
            high = middle
        iterations += 1
    temperature = math.sqrt(low * high)
    return Calibration(temperature, mean_top_probability(logits, temperature), target, iterations, bracket)
