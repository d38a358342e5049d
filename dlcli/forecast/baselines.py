"""Reference forecasts that put a model's errors in context.

- random: the period's own targets, shuffled (the paper's "random" baseline);
- average: the period's mean log1p target everywhere (the paper's "average");
  both peek at the test targets, so they are yardsticks rather than forecasters;
- seasonal naive: each day repeats the same weekday of the last week before the origin
  (the same week of the last year for weekly data);
- LightGBM: the Kaggle winners' family, a global gradient-boosted model per forecast day
  on lag/window features (means over 3..140 days, same-weekday means, zero shares, days
  since the last sale, promotions past and future, calendar and static categories),
  trained on origins of the same training span as the neural models.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from dlcli.forecast.data import Panel
from dlcli.forecast.windows import Split

log = logging.getLogger("dlcli.forecast")


def log_target(panel: Panel, series: np.ndarray, start: int, stop: int) -> np.ndarray:
    """log1p(max(y, 0)) for periods [start, stop) (0 before the data; NaN after the observed periods)."""
    index = np.arange(start, stop)
    values = np.asarray(panel.values[series[:, None], np.clip(index, 0, panel.n_observed - 1)], np.float32)
    logged = np.log1p(np.maximum(values, 0))
    logged = np.where(index[None, :] < 0, 0.0, logged)
    return np.where(index[None, :] >= panel.n_observed, np.nan, logged).astype(np.float32)


def season_length(panel: Panel) -> int:
    return 52 if panel.frequency == "W" else 7


def random_baseline(true_log: np.ndarray, seed: int = 0) -> np.ndarray:
    flat = true_log.reshape(-1)
    return np.random.default_rng(seed).permutation(flat).reshape(true_log.shape)


def average_baseline(true_log: np.ndarray) -> np.ndarray:
    return np.full_like(true_log, float(np.mean(true_log)))


def naive(panel: Panel, series: np.ndarray, origin: int, horizon: int) -> np.ndarray:
    """The last recorded value before the origin, every period (0 for a series with none)."""
    history = log_target(panel, series, 0, origin)
    recorded = np.isfinite(history)
    last = np.where(recorded.any(axis=1), origin - 1 - np.argmax(recorded[:, ::-1], axis=1), 0)
    value = np.nan_to_num(history[np.arange(len(series)), last]) if origin > 0 else np.zeros(len(series))
    return np.repeat(value[:, None], horizon, axis=1).astype(np.float32)


def seasonal_naive(panel: Panel, series: np.ndarray, origin: int, horizon: int) -> np.ndarray:
    """The same period one season earlier; the naive forecast where that period was not recorded."""
    season = season_length(panel)
    history = log_target(panel, series, origin - season, origin)
    forecast = history[:, np.arange(horizon) % season]
    if np.isnan(forecast).any():
        forecast = np.where(np.isnan(forecast), naive(panel, series, origin, horizon), forecast)
    return forecast


class LightGBMBaseline:
    """One LightGBM regressor per forecast day on lag/window features (needs the ``eval`` extra)."""

    def __init__(
        self, panel: Panel, horizon: int, *, seed: int = 0, threads: int = 2, rounds: int = 600, objective="regression"
    ):
        import lightgbm  # noqa: F401  (fail early with ImportError when it is not installed)

        self.panel, self.horizon, self.seed, self.threads, self.rounds = panel, horizon, seed, threads, rounds
        self.objective = objective  # regression (L2 on log1p) | l1 (a median on log1p: the strong retail baseline)
        self.season = season_length(panel)
        self.window = max(140, 3 * self.season + horizon)
        self.static_fields = [f for f in panel.static if f not in set(panel.identity) - {"store_nbr"}]
        self.models: list = []
        self.categorical: list[int] = []  # feature columns holding static category codes

    def features(self, series: np.ndarray, origin: int) -> list[np.ndarray]:
        """Feature matrices [n, F], one per forecast day."""
        p, window, season = self.panel, self.window, self.season
        history = log_target(p, series, origin - window, origin)  # NaN: unrecorded (data.missing unknown)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", RuntimeWarning
            )  # a window without any recorded period: NaN, which LightGBM takes as missing
            common = [np.nanmean(history[:, -w:], axis=1) for w in (3, 7, 14, 28, 56, 112, 140) if w <= window]
        common += [(history[:, -w:] == 0).mean(axis=1) for w in (7, 28, 112)]
        sold = history > 0
        last_sale = np.where(sold.any(axis=1), window - 1 - np.argmax(sold[:, ::-1], axis=1), window)
        common += [history[:, -1], last_sale, np.clip(origin - p.first_period[series], 0, 1000)]
        for array in p.series_known.values():
            past = np.arange(origin - 56, origin)
            values = np.asarray(array[series[:, None], np.clip(past, 0, array.shape[1] - 1)], np.float32) * (past >= 0)
            ahead = np.arange(origin, origin + self.horizon)
            upcoming = np.asarray(array[series[:, None], np.clip(ahead, 0, array.shape[1] - 1)], np.float32) * (
                ahead < array.shape[1]
            )
            common += [values[:, -14:].mean(axis=1), values.mean(axis=1), upcoming.mean(axis=1)]
        for array in p.series_past.values():
            past = np.clip(np.arange(origin - 28, origin), 0, array.shape[1] - 1)
            values = np.asarray(array[series[:, None], past], np.float32)
            common += [values[:, -7:].mean(axis=1), values.mean(axis=1)]
        self.categorical = list(range(len(common), len(common) + len(self.static_fields)))
        common += [p.static[f][series].astype(np.float32) for f in self.static_fields]
        common_matrix = np.stack(common, axis=1).astype(np.float32)
        matrices = []
        for step in range(self.horizon):
            target = origin + step
            first_same = target - season * int(np.ceil((step + 1) / season))  # latest same-phase period before origin
            same = [first_same - season * j for j in range(12)]
            columns = [same[j] - (origin - window) for j in range(12)]
            valid = [c for c in columns if c >= 0]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                day = [np.nanmean(history[:, valid[:4]], axis=1), np.nanmean(history[:, valid], axis=1)]
            for array in p.series_known.values():
                index = min(target, array.shape[1] - 1)
                day.append(np.asarray(array[series, index], np.float32) * (target < array.shape[1]))
            when = min(target, len(p.dates) - 1)
            day += list(p.time_known.values[when][None, :].repeat(len(series), 0).T)
            if p.group_known is not None:
                day += list(p.group_known.values[p.group[series], when].T)
            day.append(np.full(len(series), step, np.float32))
            matrices.append(np.concatenate([common_matrix, np.stack(day, axis=1).astype(np.float32)], axis=1))
        return matrices

    def _rows(self, origins: list[int]):
        stacks = [[] for _ in range(self.horizon)]
        targets, weights = [], []
        for origin in origins:
            series = np.flatnonzero(self.panel.first_period < origin)
            for step, matrix in enumerate(self.features(series, origin)):
                stacks[step].append(matrix)
            targets.append(log_target(self.panel, series, origin, origin + self.horizon))
            weights.append(self.panel.weights[series])
        return [np.concatenate(s) for s in stacks], np.concatenate(targets), np.concatenate(weights)

    def fit(self, split: Split, *, origins: int = 24) -> LightGBMBaseline:
        import lightgbm as lgb

        spacing = 3 if self.panel.frequency == "D" else 1  # 3 is coprime with 7: every weekday gets origins
        train_origins = [split.max_origin - spacing * k for k in range(origins) if split.max_origin - spacing * k >= 1]
        matrices, targets, weights = self._rows(train_origins)
        valid = None
        if split.valid_origin is not None:
            valid = self._rows([split.valid_origin])
        params = dict(
            objective=self.objective,
            learning_rate=0.05,
            num_leaves=63,
            min_data_in_leaf=100,
            feature_fraction=0.8,
            bagging_fraction=0.8,
            bagging_freq=1,
            lambda_l2=1.0,
            num_threads=self.threads,
            seed=self.seed,
            deterministic=True,
            force_row_wise=True,
            verbose=-1,
        )
        self.models = []
        for step in range(self.horizon):
            keep = np.isfinite(targets[:, step])  # unrecorded periods are not trained on
            data = lgb.Dataset(
                matrices[step][keep],
                np.ascontiguousarray(targets[keep, step]),
                weight=weights[keep],
                categorical_feature=self.categorical,
                free_raw_data=True,
            )
            sets, callbacks = [], []
            if valid is not None:
                kept = np.isfinite(valid[1][:, step])
                labels = np.ascontiguousarray(valid[1][kept, step])
                sets = [lgb.Dataset(valid[0][step][kept], labels, weight=valid[2][kept], reference=data)]
                callbacks = [lgb.early_stopping(50, verbose=False)]
            booster = lgb.train(params, data, num_boost_round=self.rounds, valid_sets=sets, callbacks=callbacks)
            self.models.append(booster)
        rounds = [m.best_iteration or m.current_iteration() for m in self.models]
        log.info(
            f"LightGBM: {len(train_origins)} origins x {len(targets) // max(1, len(train_origins)):,} series, rounds per day {min(rounds)}..{max(rounds)}"
        )
        return self

    def predict(self, series: np.ndarray, origin: int) -> np.ndarray:
        matrices = self.features(series, origin)
        columns = [m.predict(x, num_iteration=m.best_iteration or None) for m, x in zip(self.models, matrices)]
        return np.clip(np.stack(columns, axis=1), 0, None).astype(np.float32)
