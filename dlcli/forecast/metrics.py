"""Forecast errors in natural-log space (dissertation eqs. 5.1-5.3).

RMSLE  = sqrt(mean((log(yhat + 1) - log(y + 1))^2))
NWRMSLE = sqrt(sum(w (log(yhat + 1) - log(y + 1))^2) / sum(w)), w = 1.25 for perishable items, 1 otherwise
MALE   = mean(|log(yhat + 1) - log(y + 1)|)

MALE is reported *without* the square root that the paper's eq. 5.3 prints: its tables
(MALE 0.34 next to RMSLE 0.54) can only come from this form, and it is the usual one.
Inputs here are already log1p values (forecasts clipped at 0, targets of max(y, 0)).
"""

from __future__ import annotations

import numpy as np

METRICS = ("rmsle", "nwrmsle", "male")


def errors(predicted_log: np.ndarray, true_log: np.ndarray, weights: np.ndarray, axis=None) -> dict[str, np.ndarray]:
    """The three metrics over ``axis`` of [series, horizon] arrays; ``weights`` is per series."""
    difference = np.asarray(predicted_log, np.float64) - np.asarray(true_log, np.float64)
    w = np.broadcast_to(np.asarray(weights, np.float64)[:, None], difference.shape)
    squared = difference**2
    return {
        "rmsle": np.sqrt(squared.mean(axis=axis)),
        "nwrmsle": np.sqrt((w * squared).sum(axis=axis) / w.sum(axis=axis)),
        "male": np.abs(difference).mean(axis=axis),
    }


def summary(predicted_log: np.ndarray, true_log: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    return {key: float(value) for key, value in errors(predicted_log, true_log, weights).items()}


def per_day(predicted_log: np.ndarray, true_log: np.ndarray, weights: np.ndarray) -> list[dict[str, float]]:
    """Metrics of each forecast day (1 = the origin)."""
    by_day = errors(predicted_log, true_log, weights, axis=0)
    return [{key: float(by_day[key][day]) for key in METRICS} for day in range(np.shape(true_log)[1])]


def per_series_rmsle(predicted_log: np.ndarray, true_log: np.ndarray) -> np.ndarray:
    return np.sqrt(((np.asarray(predicted_log, np.float64) - true_log) ** 2).mean(axis=1))
