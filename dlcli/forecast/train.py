"""Training a global forecast model with the shared engine; warm starts for nightly retraining.

Loss (``loss``): by default squared error in log1p space weighted per series (perishable
items 1.25, or ``--weight-col``), as the competition's NWRMSLE and the reference
implementation; absolute error on log1p (a median forecast), absolute error in units
weighted by series volume (for WMAE / WAPE), or a pinball loss. Unrecorded periods
(NaN targets) never enter a loss. Random windows with a random
present (``windows.TrainingWindows``). A warm start (``--init-from``) takes yesterday's
model, its input layout and its categories; categories that appeared since (new items,
new stores) get new embedding rows initialised from the "unknown" row, which training
teaches to represent an average unseen series.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from dlcli.config import save_config, to_dict
from dlcli.console import add_log_file
from dlcli.errors import CheckpointError, ConfigError, DivergedError, UsageError
from dlcli.files import run_folder_lock
from dlcli.forecast.data import DataConfig, Panel, load_panel
from dlcli.forecast.model import Ensemble, ForecastModelConfig, build_model
from dlcli.forecast.windows import (
    FixedOriginWindows,
    Layout,
    Split,
    SplitConfig,
    TrainingWindows,
    WindowMaker,
    make_layout,
    make_split,
)
from dlcli.train import FitResult, TrainConfig, Trainer, load_checkpoint, seed_everything
from dlcli.train.device import configure_threads

log = logging.getLogger("dlcli.forecast")

TASK = "forecast"


@contextlib.contextmanager
def log_to(path: str | Path | None):
    """Also append log records to ``path`` while the block runs (cron runs read it later)."""
    if path is None:
        yield
        return
    handler = add_log_file(path)
    try:
        yield
    finally:
        logging.getLogger("dlcli").removeHandler(handler)
        handler.close()


def _train_defaults() -> TrainConfig:
    return TrainConfig(epochs=20, batch_size=128, lr=1e-4, monitor="val_nwrmsle", log_every=25, grad_clip=1.0)


@dataclass
class ForecastConfig:
    data: DataConfig = field(default_factory=DataConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    model: ForecastModelConfig = field(default_factory=ForecastModelConfig)
    train: TrainConfig = field(default_factory=_train_defaults)
    steps_per_epoch: int = 500  # training batches between validations (windows are drawn at random)
    loss: str = (
        "mse-log1p"  # mse-log1p (NWRMSLE) | mae-log1p (median) | mae (original scale, volume-weighted) | quantile
    )
    quantile: float = 0.5  # the level of the pinball loss on log1p (loss = quantile)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, not {self.loss!r}")
        if not 0 < self.quantile < 1:
            raise ConfigError("quantile must be in (0, 1)")
        if self.steps_per_epoch < 1:
            raise ConfigError(f"steps_per_epoch must be at least 1, not {self.steps_per_epoch}")


LOSSES = ("mse-log1p", "mae-log1p", "mae", "quantile")


def series_scale(history: Tensor) -> Tensor:
    """Mean recorded units over each window's history: [B] (1 without history): volume weights of the mae loss."""
    if history.shape[1] == 0:
        return history.new_ones(history.shape[0])
    observed = history[..., 1]
    units = torch.expm1(history[..., 0].clamp(max=20)) * observed
    return (units.sum(dim=1) / observed.sum(dim=1).clamp(min=1.0)).clamp(min=1.0)


def loss_terms(kind: str, predicted: Tensor, target: Tensor, history: Tensor, quantile: float = 0.5) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Per-window (error sum, normaliser) of a loss over the recorded periods (NaN targets are skipped).

    The batch loss is sum(weight * error) / sum(weight * normaliser). For ``mae`` the error
    is |expm1(prediction) - units| and the normaliser the window's recorded periods times
    its mean volume, so big series weigh what they weigh in WMAE / WAPE.
    """
    recorded = torch.isfinite(target)
    clean = torch.where(recorded, target, predicted.detach())
    mask = recorded.to(predicted.dtype)
    count = mask.sum(dim=1)
    if kind == "mse-log1p":
        return ((predicted - clean) ** 2 * mask).sum(dim=1), count
    if kind == "mae-log1p":
        return ((predicted - clean).abs() * mask).sum(dim=1), count
    if kind == "quantile":
        difference = clean - predicted
        return (torch.maximum(quantile * difference, (quantile - 1) * difference) * mask).sum(dim=1), count
    units = torch.expm1(predicted.clamp(max=20)) - torch.expm1(clean.clamp(max=20))
    return (units.abs() * mask).sum(dim=1), count * series_scale(history)


def _batch_loss(kind: str, predicted: Tensor, target: Tensor, history: Tensor, weight: Tensor, quantile: float):
    error, normaliser = loss_terms(kind, predicted, target, history, quantile)
    return (error * weight).sum() / (normaliser * weight).sum().clamp(min=1e-12)


def make_step(kind: str = "mse-log1p", quantile: float = 0.5):
    def step(model: nn.Module, batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, Tensor]]:
        history, future, static, target, weight = batch
        if isinstance(model, Ensemble):  # each member learns on its own loss; the forecast is their mean
            each = model.each(history, future, static, torch.nan_to_num(target))
            loss = sum(_batch_loss(kind, p, target, history, weight, quantile) for p in each)
            predicted = each.mean(dim=0)
        else:
            predicted = model(history, future, static, torch.nan_to_num(target))
            loss = _batch_loss(kind, predicted, target, history, weight, quantile)
        recorded = torch.isfinite(target)
        squared = torch.where(recorded, (predicted.detach() - torch.nan_to_num(target)) ** 2, 0.0)
        count, weights = recorded.sum().clamp(min=1), (weight[:, None] * recorded).sum().clamp(min=1e-12)
        return loss, {
            "nwrmsle": ((squared * weight[:, None]).sum() / weights).sqrt(),  # the monitor without validation
            "rmsle": (squared.sum() / count).sqrt(),
        }

    return step


def evaluate_windows(model: nn.Module, loader, loss: str = "mse-log1p", quantile: float = 0.5) -> dict[str, float]:
    """Exact RMSLE, NWRMSLE, MALE, WAPE and the training loss of the clipped forecasts over a whole loader."""
    device = next(model.parameters()).device
    sums = torch.zeros(9, dtype=torch.float64)
    for batch in loader:
        history, future, static, target, weight = (t.to(device) for t in batch)
        predicted = model(history, future, static).clamp(min=0).float()
        recorded = torch.isfinite(target)
        error = torch.where(recorded, predicted - torch.nan_to_num(target), 0.0).double()
        w = weight.double()[:, None].expand_as(error) * recorded
        units = torch.where(recorded, torch.expm1(predicted.clamp(max=20)) - torch.expm1(torch.nan_to_num(target).clamp(max=20)), 0.0)  # fmt: skip
        loss_sum, normaliser = loss_terms(loss, predicted, target, history, quantile)
        sums += torch.stack(
            [
                (w * error**2).sum(),
                w.sum(),
                (error**2).sum(),
                error.abs().sum(),
                recorded.sum().double(),
                units.abs().double().sum(),
                torch.expm1(torch.nan_to_num(target).clamp(max=20)).double().mul(recorded).sum(),
                (loss_sum.double() * weight.double()).sum(),
                (normaliser.double() * weight.double()).sum(),
            ]
        ).cpu()
    weighted, total_weight, squared, absolute, count, unit_error, units_total, loss_total, loss_norm = sums.tolist()
    mean_squared = weighted / max(total_weight, 1e-12)
    return {
        "loss": mean_squared if loss == "mse-log1p" else loss_total / max(loss_norm, 1e-12),
        "nwrmsle": mean_squared**0.5,
        "rmsle": (squared / max(count, 1)) ** 0.5,
        "male": absolute / max(count, 1),
        "wape": unit_error / max(units_total, 1e-12),
    }


def training_vocab(panel: Panel, train_end: int) -> dict[str, list[str]]:
    """Categories of the series that have data before ``train_end``; others will map to "unknown".

    A category seen only on series that training never reads (an item first sold after
    the training span) would get an untrained embedding; as "unknown" it gets the
    embedding that training keeps for unseen series instead.
    """
    trained = panel.first_period < train_end
    vocab = {}
    for name, codes in panel.static.items():
        used = np.unique(codes[trained])
        vocab[name] = [panel.static_vocab[name][code - 1] for code in used if code > 0]
    return vocab


def merged_vocab(old: dict[str, list[str]], new: dict[str, list[str]]) -> dict[str, list[str]]:
    """The checkpoint's categories, then the categories that this data adds (warm starts grow embeddings)."""
    merged = {}
    for name, categories in old.items():
        known = set(categories)
        merged[name] = list(categories) + [c for c in new.get(name, []) if c not in known]
    return merged


def warm_start(model: nn.Module, checkpoint: dict, path: Path) -> None:
    """Copy yesterday's weights; new embedding rows start as the "unknown" row 0."""
    state = model.state_dict()
    for name, old in checkpoint["state_dict"].items():
        if name not in state:
            raise CheckpointError(f"--init-from: weight '{name}' does not fit this model", path=path)
        new = state[name]
        if ("." + name).count(".static.tables.") and old.shape[1:] == new.shape[1:] and old.shape[0] <= new.shape[0]:
            new[: old.shape[0]] = old
            new[old.shape[0] :] = old[0]
        elif old.shape == new.shape:
            new.copy_(old)
        else:
            raise CheckpointError(
                f"--init-from: weight '{name}' has shape {tuple(old.shape)}, the model needs {tuple(new.shape)}",
                path=path,
            )
    model.load_state_dict(state)


def checkpoint_features(config: ForecastConfig, panel: Panel, split: Split, layout: Layout, vocab) -> dict:
    """What predict/evaluate need to rebuild the inputs exactly: layout, categories, reader options, split."""
    date = lambda index: str(panel.dates[index]) if index is not None and index < len(panel.dates) else None  # noqa: E731
    return {
        "kind": panel.kind,
        "frequency": panel.frequency,
        "data": to_dict(config.data),
        "split": to_dict(config.split),
        "layout": layout.to_dict(),
        "vocab": vocab,
        "history": config.model.resolved_history,
        "horizon": config.split.horizon,
        "dates": {
            "first": date(0),
            "train_end": date(split.train_end),
            "valid_origin": date(split.valid_origin),
            "test_origins": [date(o) for o in split.test_origins],
        },
    }


def _validation_series(panel: Panel, origin: int, limit: int, seed: int) -> np.ndarray:
    existing = np.flatnonzero(panel.first_period < origin)
    if len(existing) > limit:
        existing = np.sort(np.random.default_rng(seed).choice(existing, size=limit, replace=False))
    return existing


def _check_warm_start(requested: ForecastModelConfig, saved: dict, given: tuple[str, ...], path) -> None:
    """A model option given with --init-from must agree with the checkpoint's: a warm start keeps its model.

    An option counts as given when the command line names it (``given``) or when it differs
    from its default (a configuration file); fields set from the data are not compared.
    """
    defaults = ForecastModelConfig()
    derived = {"encoder_features", "decoder_features", "static_fields", "static_sizes", "static_dims", "horizon"}
    for name, value in to_dict(requested).items():
        if name in derived or name not in saved or value == saved[name]:
            continue
        if name in given or value != getattr(defaults, name):
            raise UsageError(
                f"--init-from {path}: the checkpoint's model has {name} {saved[name]}, this run asks for {name} "
                f"{value}; a warm start keeps the checkpoint's model (drop the option, or train without --init-from)"
            )


def _build(panel: Panel, split: Split, config: ForecastConfig, init_from, given=()) -> tuple[nn.Module, Layout, dict]:
    """A fresh model for this data, or yesterday's (``init_from``) grown to today's categories."""
    if init_from is None:
        layout = make_layout(panel, split.train_end, seasonal=config.model.seasonal_input)
        vocab = training_vocab(panel, split.train_end)
        m = config.model
        m.encoder_features, m.decoder_features = len(layout.encoder), len(layout.decoder)
        m.static_fields, m.static_sizes = list(layout.static_fields), [len(vocab[f]) for f in layout.static_fields]
        m.horizon = config.split.horizon
        return build_model(config.model, layout.identity), layout, vocab
    checkpoint = load_checkpoint(init_from, TASK)
    features = checkpoint["features"]
    if panel.kind != features["kind"] or config.split.horizon != features["horizon"]:
        raise UsageError(
            f"--init-from {init_from}: trained on {features['kind']} data with horizon {features['horizon']}; "
            f"this run has {panel.kind} data and horizon {config.split.horizon}"
        )
    layout = Layout(**features["layout"])
    vocab = merged_vocab(features["vocab"], training_vocab(panel, split.train_end))
    saved = dict(checkpoint["model_config"])
    _check_warm_start(config.model, saved, tuple(given), init_from)
    # the embedding widths stay yesterday's: a width follows the vocabulary size while that is small,
    # and today's new categories must not change the shape of the weights being carried over
    yesterday = ForecastModelConfig(**saved)
    saved.update(
        static_sizes=[len(vocab[f]) for f in saved["static_fields"]],
        static_dims=[yesterday.embedding_dim(f, f in layout.identity) for f in saved["static_fields"]],
    )
    config.model = ForecastModelConfig(**saved)
    model = build_model(config.model, layout.identity)
    warm_start(model, checkpoint, Path(init_from))
    log.info(f"warm start from {init_from}")
    return model, layout, vocab


def train_forecaster(
    data: str | Path | Panel,
    config: ForecastConfig,
    out: str | Path,
    *,
    init_from: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    model_options: tuple[str, ...] = (),
    fit_to_data: dict | None = None,
) -> FitResult:
    """Train (or warm-start) a model on ``data``; write the run into ``out`` (locked against a second run).

    ``model_options``: the model fields given on the command line (a warm start checks them).
    ``fit_to_data``: the explicitly given options (dotted names); the rest of the configuration
    is then chosen from the data (``defaults.fitted_overrides``) instead of taken from ``config``.
    Training that ends without a finite validation metric (or with non-finite weights) raises
    DivergedError (exit 7), so that a cron job sees it.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with run_folder_lock(out, "the training run"), log_to(out / "train.log"):
        configure_threads()
        seed = config.train.seed  # the root --seed is already in it (one seed rule: dlcli.runtime)
        config.train.seed = seed
        seed_everything(seed)
        panel = data if isinstance(data, Panel) else load_panel(data, config.data)
        if fit_to_data is not None:
            from dlcli.config import load_config
            from dlcli.forecast.defaults import fitted_overrides

            given = {k: v for k, v in fit_to_data.items() if v is not None}
            fitted = fitted_overrides(panel, given.get("split.horizon"))
            config = load_config(ForecastConfig, None, {**fitted, **given})
            config.train.seed = seed
            log.info(
                f"defaults fitted to the data: {', '.join(f'{k} {v}' for k, v in fitted.items() if k not in given)}"
            )
        log.info(
            f"data: {', '.join(f'{k} {v:,}' if isinstance(v, int) else f'{k} {v}' for k, v in panel.facts.items())}"
        )
        split = make_split(panel, config.split)
        model, layout, vocab = _build(panel, split, config, init_from, model_options)
        history = config.model.resolved_history
        maker = WindowMaker(panel, layout, vocab, config.split.horizon)
        length = config.steps_per_epoch * config.train.batch_size
        train_windows = TrainingWindows(maker, split, config.split, history, length, seed)
        val_windows = None
        if split.valid_origin is not None:
            series = _validation_series(panel, split.valid_origin, config.split.val_series, seed)
            val_windows = FixedOriginWindows(maker, split.valid_origin, history, series)
        log.info(
            f"{config.model.kind} model, history {'all' if history is None else history}, origins "
            f"{panel.dates[split.min_origin]}..{panel.dates[split.max_origin]}"
            + ("" if config.split.random_present else " (fixed: no random present)")
            + (f", validation from {panel.dates[split.valid_origin]}" if split.valid_origin is not None else "")
        )
        save_config(config, out / "config.yaml")
        trainer = Trainer(
            task=TASK,
            model=model,
            step_fn=make_step(config.loss, config.quantile),
            config=config.train,
            run_dir=out,
            evaluate_fn=functools.partial(evaluate_windows, loss=config.loss, quantile=config.quantile),
            collate_fn=TrainingWindows.collate,
            model_config=to_dict(config.model),
            run_config=config,
            features=checkpoint_features(config, panel, split, layout, vocab),
            extra={"init_from": str(init_from) if init_from else None},
        )
        result = trainer.fit(train_windows, val_windows, resume=resume, overwrite=overwrite)
        if not all(torch.isfinite(p).all() for p in model.parameters()):
            raise DivergedError(f"training ended with non-finite weights; see {out / 'metrics.jsonl'}")
        if val_windows is not None and result.best_metric is None:
            raise DivergedError(
                f"training ended without a finite validation {result.monitor}: no best.pt; see {out / 'metrics.jsonl'}"
            )
        return result


def load_model(path: str | Path, device: torch.device) -> tuple[nn.Module, dict, dict]:
    """A trained model in eval mode, its checkpoint features and model config."""
    from dlcli.train.loader import load_model as load_task_model

    checkpoint = load_checkpoint(path, TASK)
    features = checkpoint["features"]
    build = lambda config: build_model(config, features["layout"]["identity"])  # noqa: E731
    loaded = load_task_model(path, TASK, ForecastModelConfig, build, device=device, checkpoint=checkpoint)
    return loaded.model, features, checkpoint["model_config"]
