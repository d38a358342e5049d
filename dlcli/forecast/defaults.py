"""Training defaults chosen from the data: what ``forecast train`` does when no --config is given.

The reference recipe (history 200 days, 20 epochs x 500 steps at lr 1e-4) was made for
Favorita's 170,000 daily series; on a panel of a few thousand weekly series it runs for
an hour and over-fits after a few epochs. Here the data decide:

- history: a year and a bit (60 weeks / 400 days), never more than the training span
  leaves; the target one year earlier enters the decoder when the data hold a year plus
  a horizon of history;
- size: a smaller network (hidden 64) with dropout and weight decay below ~20,000 series;
- steps: about two passes over the series per epoch (25..300 batches), at lr 1e-3;
- early stopping: the last horizon before the data's end is a validation window (no gap,
  no test periods held out: use ``forecast backtest`` to measure); training stops after 10
  epochs without improvement and keeps the best epoch (at most 40 epochs);
- loss: absolute error on log1p (a median forecast: robust to promotions' spikes);
- an ensemble of 3 networks below ~20,000 series, where the cost stays small.

Every explicit option (and any --config file) wins over these choices.
"""

from __future__ import annotations

import math

from dlcli.forecast.data import Panel
from dlcli.forecast.windows import season_periods

SMALL_PANEL = 20_000  # series: below this, a smaller regularised network and an ensemble of 3


def fitted_overrides(panel: Panel, horizon: int | None = None) -> dict:
    """Dotted config overrides (``"model.history"``: 60, ...) that fit this panel."""
    weekly = panel.frequency == "W"
    horizon = horizon or (8 if weekly else 16)
    season = season_periods(panel.frequency)
    span = panel.n_observed - horizon  # periods before the validation window
    history = min(60 if weekly else 400, max(1, span - 2 * horizon))
    min_history = max(
        1, min(max(2 * horizon, history // 2), span - 3 * horizon)
    )  # more origins than a full history allows
    series = int((panel.first_period < panel.n_observed).sum())
    small = series < SMALL_PANEL
    batch = 64 if small else 128
    steps = int(min(300, max(25, math.ceil(2 * series / batch))))
    return {
        "model.kind": "trimmed",
        "model.history": history,
        "model.level_periods": 13 if weekly else 56,
        "model.seasonal_input": span > season + horizon,
        "model.hidden": 64 if small else 128,
        "model.context": [128] if small else [512, 384],
        "model.head": 64 if small else 128,
        "model.mlp_dropout": 0.1 if small else 0.0,
        "model.members": 3 if small else 1,
        "split.horizon": horizon,
        "split.test_periods": 0,
        "split.valid_periods": horizon,
        "split.gap_periods": 0,
        "split.min_history": min_history,
        "train.epochs": 40,
        "train.early_stopping": 10,
        "train.lr": 1e-3,
        "train.batch_size": batch,
        "train.optimizer": "adamw",
        "train.weight_decay": 1e-4 if small else 0.0,
        "train.monitor": "val_loss",
        "steps_per_epoch": steps,
        "loss": "mae-log1p",
    }
