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
    recorded = np.isfinite(difference)  # NaN truth: an unrecorded period (data.missing unknown), not scored
    difference = np.where(recorded, difference, 0.0)
    count = np.maximum(recorded.sum(axis=axis), 1)
    w = np.broadcast_to(np.asarray(weights, np.float64)[:, None], difference.shape) * recorded
    squared = difference**2
    return {
        "rmsle": np.sqrt(squared.sum(axis=axis) / count),
        "nwrmsle": np.sqrt((w * squared).sum(axis=axis) / np.maximum(w.sum(axis=axis), 1e-12)),
        "male": np.abs(difference).sum(axis=axis) / count,
    }


def summary(predicted_log: np.ndarray, true_log: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    return {key: float(value) for key, value in errors(predicted_log, true_log, weights).items()}


def per_day(predicted_log: np.ndarray, true_log: np.ndarray, weights: np.ndarray) -> list[dict[str, float]]:
    """Metrics of each forecast day (1 = the origin)."""
    by_day = errors(predicted_log, true_log, weights, axis=0)
    return [{key: float(by_day[key][day]) for key in METRICS} for day in range(np.shape(true_log)[1])]


def per_series_rmsle(predicted_log: np.ndarray, true_log: np.ndarray) -> np.ndarray:
    squared = (np.asarray(predicted_log, np.float64) - true_log) ** 2
    recorded = np.isfinite(squared)
    return np.sqrt(np.where(recorded, squared, 0.0).sum(axis=1) / np.maximum(recorded.sum(axis=1), 1))


# ---------------------------------------------------------------- backtest metrics (units, NaN = unrecorded)

BACKTEST_METRICS = ("wmae", "mae", "wape", "rmsle", "mase", "smape")


def mase_scales(history_log: np.ndarray) -> np.ndarray:
    """Per series: mean |y_t - y_{t-1}| in units over the recorded history (the naive forecast's in-sample MAE)."""
    units = np.expm1(np.asarray(history_log, np.float64))
    with np.errstate(invalid="ignore"):
        steps = np.abs(np.diff(units, axis=1))
        counts = np.isfinite(steps).sum(axis=1)
        scales = np.where(counts > 0, np.nansum(steps, axis=1) / np.maximum(counts, 1), np.nan)
    fallback = np.nanmedian(scales) if np.isfinite(scales).any() else 1.0
    return np.where(np.isfinite(scales) & (scales > 0), scales, fallback)


def unit_errors(
    predicted_log: np.ndarray, true_log: np.ndarray, weights: np.ndarray, scales: np.ndarray, axis=None
) -> dict[str, np.ndarray]:
    """WMAE, MAE, WAPE, sMAPE (units), RMSLE (log1p) and MASE over ``axis`` of [series, horizon] arrays.

    Cells whose truth is NaN (unrecorded periods) are left out. WMAE weighs each series'
    absolute errors by its weight (equal to MAE when every weight is 1); WAPE is the sum of
    absolute errors over the sum of units (volume-weighted); sMAPE is in percent (0..200);
    MASE divides each series' errors by its naive in-sample MAE (``mase_scales``).
    """
    predicted_log = np.clip(np.asarray(predicted_log, np.float64), 0, None)
    true_log = np.asarray(true_log, np.float64)
    recorded = np.isfinite(true_log)
    truth = np.where(recorded, np.expm1(np.nan_to_num(true_log)), 0.0)
    forecast = np.expm1(predicted_log)
    absolute = np.where(recorded, np.abs(forecast - truth), 0.0)
    count = recorded.sum(axis=axis)
    w = np.broadcast_to(np.asarray(weights, np.float64)[:, None], absolute.shape) * recorded
    s = np.broadcast_to(np.asarray(scales, np.float64)[:, None], absolute.shape)
    denominator = np.abs(forecast) + np.abs(truth)
    smape = np.where(recorded & (denominator > 0), 200 * absolute / np.where(denominator > 0, denominator, 1), 0.0)
    squared = np.where(recorded, (predicted_log - np.nan_to_num(true_log)) ** 2, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "wmae": (w * absolute).sum(axis=axis) / w.sum(axis=axis),
            "mae": absolute.sum(axis=axis) / count,
            "wape": absolute.sum(axis=axis) / truth.sum(axis=axis),
            "rmsle": np.sqrt(squared.sum(axis=axis) / count),
            "mase": (absolute / s).sum(axis=axis) / count,
            "smape": smape.sum(axis=axis) / count,
        }
