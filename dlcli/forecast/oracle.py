"""The best achievable forecast of a simulated world, from the simulator's own expected values.

For squared error in log1p space (RMSLE, NWRMSLE) the best point forecast is
E[log1p(y)] given what is known at the forecast origin. The oracle knows more than any
model can: the exact latent level z at the day before the origin, the future promotions
and the generating parameters. What it cannot know are the future innovations of z, the
daily noise, Poisson sampling, stock-outs and returns, and it integrates over them:

    log lambda[t] | origin  ~  N(log m[t] + phi^k z[o-1] - sigma^2/2,  sigma_z^2 (1 - phi^2k) / (1 - phi^2) + sigma^2)
    E[log1p y[t]]           =  (1 - stockout) (1 - returns) E[ G(log lambda) ],   G(u) = E[log1p Poisson(e^u)]

with k = t - o + 1. G is tabulated once (exact sums of the Poisson series) and the
Gaussian expectation uses Gauss-Hermite quadrature. Its RMSLE is therefore a lower
bound on what any forecaster can reach on the simulated data (slightly optimistic).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from dlcli.errors import InputError

TRUTH_FILE = "truth.npz"


@functools.cache
def _log1p_poisson_table(step: float = 0.01, low: float = -14.0, high: float = 13.0) -> tuple[np.ndarray, np.ndarray]:
    """G(u) = E[log1p(Y)], Y ~ Poisson(exp(u)), on a grid of u (exact sums; an expansion above 5,000)."""
    from scipy.special import gammaln

    grid = np.arange(low, high + step / 2, step)
    values = np.empty_like(grid)
    for index, u in enumerate(grid):
        rate = float(np.exp(u))
        if rate > 5000.0:
            values[index] = np.log1p(rate) - rate / (2 * (1 + rate) ** 2)
            continue
        spread = 15 * np.sqrt(rate) + 30
        y = np.arange(max(0.0, np.floor(rate - spread)), np.ceil(rate + spread) + 1)
        log_pmf = y * u - rate - gammaln(y + 1)
        values[index] = np.sum(np.exp(log_pmf) * np.log1p(y))
    return grid, values


def expected_log1p_poisson(log_rate: np.ndarray) -> np.ndarray:
    """E[log1p(Poisson(exp(log_rate)))], elementwise."""
    grid, values = _log1p_poisson_table()
    return np.interp(log_rate, grid, values)


def expected_log1p_lognormal_poisson(mean: np.ndarray, sd: np.ndarray, nodes: int = 24) -> np.ndarray:
    """E[G(X)] for X ~ N(mean, sd^2) by Gauss-Hermite quadrature (probabilists' weights)."""
    points, weights = np.polynomial.hermite_e.hermegauss(nodes)
    weights = weights / np.sqrt(2 * np.pi)
    total = np.zeros(np.broadcast_shapes(np.shape(mean), np.shape(sd)))
    for point, weight in zip(points, weights):
        total += weight * expected_log1p_poisson(mean + sd * point)
    return total


class SimulationTruth:
    """The latent state a simulation saved (``truth.npz``) and the oracle forecasts it allows."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            with np.load(self.path) as data:
                self.data = {key: data[key] for key in data.files}
        except (OSError, ValueError, KeyError) as error:
            raise InputError(f"not a readable simulation truth file ({error})", path=self.path) from None
        self.dates = self.data["dates"].astype("datetime64[D]")
        self.store_nbr = self.data["store_nbr"]
        self.item_nbr = self.data["item_nbr"]

    @classmethod
    def find(cls, folder: str | Path) -> SimulationTruth | None:
        path = Path(folder) / TRUTH_FILE
        return cls(path) if path.is_file() else None

    def covers(self, origin: np.datetime64, horizon: int) -> bool:
        first = self.dates[0] + 1  # z of the day before the origin is needed
        return bool(first <= origin and origin + horizon - 1 <= self.dates[-1])

    def log_forecast(self, origin: np.datetime64, horizon: int) -> np.ndarray:
        """E[log1p(max(y, 0))] for every simulated series, days origin .. origin + horizon - 1: [series, horizon]."""
        if not self.covers(origin, horizon):
            raise InputError(
                f"the simulation truth covers {self.dates[0] + 1} .. {self.dates[-1]}, not {origin} + {horizon} days",
                path=self.path,
            )
        d = self.data
        start = int((origin - self.dates[0]).astype(np.int64))
        days = slice(start, start + horizon)
        phi, sigma_z = float(d["ar_phi"]), float(d["ar_sigma"])
        k = np.arange(1, horizon + 1)
        z_mean = d["z"][:, start - 1 : start].astype(np.float64) * phi**k
        z_var = sigma_z**2 * (1 - phi ** (2 * k)) / (1 - phi**2)
        sigma = d["sigma"].astype(np.float64)[:, None]
        mean = d["log_mean"][:, days].astype(np.float64) + z_mean - sigma**2 / 2
        sd = np.sqrt(z_var[None, :] + sigma**2)
        keep = (1 - float(d["stockout_rate"])) * (1 - float(d["return_rate"]))
        expected = keep * expected_log1p_lognormal_poisson(mean, sd)
        return np.where(d["active"][:, days] > 0, expected, 0.0).astype(np.float32)
