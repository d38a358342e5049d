"""Training a global forecast model with the shared engine; warm starts for nightly retraining.

Loss: RMSE in log1p space weighted per series (perishable items 1.25), as the
competition's NWRMSLE and the reference implementation. Random windows with a random
present (``windows.TrainingWindows``). A warm start (``--init-from``) takes yesterday's
model, its input layout and its categories; categories that appeared since (new items,
new stores) get new embedding rows initialised from the "unknown" row, which training
teaches to represent an average unseen series.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from dlcli.config import save_config, to_dict
from dlcli.console import add_log_file
from dlcli.errors import CheckpointError, UsageError
from dlcli.files import run_folder_lock
from dlcli.forecast.data import DataConfig, Panel, load_panel
from dlcli.forecast.model import ForecastModelConfig, build_model
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


def weighted_step(model: nn.Module, batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, Tensor]]:
    """Weighted mean squared error of log1p forecasts (its square root is NWRMSLE)."""
    history, future, static, target, weight = batch
    predicted = model(history, future, static, target)
    squared = (predicted - target) ** 2
    loss = (squared.mean(dim=1) * weight).sum() / weight.sum()
    return loss, {"nwrmsle": loss.detach().sqrt(), "rmsle": squared.detach().mean().sqrt()}


def evaluate_windows(model: nn.Module, loader) -> dict[str, float]:
    """Exact RMSLE, NWRMSLE and MALE of the clipped forecasts over a whole loader."""
    device = next(model.parameters()).device
    sums = torch.zeros(5, dtype=torch.float64)
    for batch in loader:
        history, future, static, target, weight = (t.to(device) for t in batch)
        predicted = model(history, future, static).clamp(min=0).float()
        error = (predicted - target).double()
        w = weight.double()[:, None].expand_as(error)
        sums += torch.stack(
            [
                (w * error**2).sum(),
                w.sum(),
                (error**2).sum(),
                error.abs().sum(),
                torch.tensor(error.numel(), dtype=torch.float64, device=device),
            ]
        ).cpu()
    weighted, total_weight, squared, absolute, count = sums.tolist()
    loss = weighted / max(total_weight, 1e-12)
    return {
        "loss": loss,
        "nwrmsle": loss**0.5,
        "rmsle": (squared / max(count, 1)) ** 0.5,
        "male": absolute / max(count, 1),
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
        if name.startswith("static.tables.") and old.shape[1:] == new.shape[1:] and old.shape[0] <= new.shape[0]:
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


def _build(panel: Panel, split: Split, config: ForecastConfig, init_from) -> tuple[nn.Module, Layout, dict]:
    """A fresh model for this data, or yesterday's (``init_from``) grown to today's categories."""
    if init_from is None:
        layout = make_layout(panel, split.train_end)
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
    data: str | Path,
    config: ForecastConfig,
    out: str | Path,
    *,
    init_from: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> FitResult:
    """Train (or warm-start) a model on ``data``; write the run into ``out`` (locked against a second run)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with run_folder_lock(out, "the training run"), log_to(out / "train.log"):
        configure_threads()
        seed = config.train.seed  # the root --seed is already in it (one seed rule: dlcli.runtime)
        config.train.seed = seed
        seed_everything(seed)
        panel = load_panel(data, config.data)
        log.info(
            f"data: {', '.join(f'{k} {v:,}' if isinstance(v, int) else f'{k} {v}' for k, v in panel.facts.items())}"
        )
        split = make_split(panel, config.split)
        model, layout, vocab = _build(panel, split, config, init_from)
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
            step_fn=weighted_step,
            config=config.train,
            run_dir=out,
            evaluate_fn=evaluate_windows,
            collate_fn=TrainingWindows.collate,
            model_config=to_dict(config.model),
            run_config=config,
            features=checkpoint_features(config, panel, split, layout, vocab),
            extra={"init_from": str(init_from) if init_from else None},
        )
        return trainer.fit(train_windows, val_windows, resume=resume, overwrite=overwrite)


def load_model(path: str | Path, device: torch.device) -> tuple[nn.Module, dict, dict]:
    """A trained model in eval mode, its checkpoint features and model config."""
    from dlcli.train.loader import load_model as load_task_model

    checkpoint = load_checkpoint(path, TASK)
    features = checkpoint["features"]
    build = lambda config: build_model(config, features["layout"]["identity"])  # noqa: E731
    loaded = load_task_model(path, TASK, ForecastModelConfig, build, device=device, checkpoint=checkpoint)
    return loaded.model, features, checkpoint["model_config"]
