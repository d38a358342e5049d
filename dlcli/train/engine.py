"""The training engine every task uses.

A task hands the engine a model, its datasets and a step function
``step(model, batch, context) -> (loss, metrics)`` (``context``, a ``StepContext``, is
optional: two-argument step functions still work); the engine owns everything around it:
device, precision (autocast, loss scaling), optimizer, schedule, gradient clipping,
the non-finite-loss guard, validation, early stopping, progress, ``metrics.jsonl``,
atomic ``last.pt``/``best.pt``, exact resume and DistributedDataParallel under torchrun.

Exact resume: the order of each epoch is a function of (seed, epoch) alone, and
``last.pt`` holds the optimizer, scaler, schedule, every RNG state and the position
inside the epoch, so a run killed at any moment and resumed from its last checkpoint
ends with the same weights as one that was never interrupted (on the same hardware).
Per-example randomness inside a Dataset should derive from (seed, epoch, index) when
``num_workers > 0``; randomness drawn from torch's global RNG in the step function
(augmentation on the GPU, dropout) is restored exactly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import logging
import math
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from dlcli.config import to_dict
from dlcli.console import console_is_quiet, progress
from dlcli.errors import DivergedError, UsageError
from dlcli.files import remove_stale_temporaries
from dlcli.train import distributed
from dlcli.train.checkpoint import build_checkpoint, load_checkpoint, load_state_dict, save_checkpoint, unwrap
from dlcli.train.config import TrainConfig
from dlcli.train.data import prefetched
from dlcli.train.device import autocast, choose_device, resolve_precision, rng_state, set_rng_state
from dlcli.train.plots import plot_training_curves
from dlcli.train.sampler import ResumableSampler
from dlcli.train.schedules import Schedule

log = logging.getLogger("dlcli.train")


@dataclass(frozen=True)
class StepContext:
    """What a step or evaluation function may need besides the model and the batch."""

    epoch: int = 0  # 0-based epoch being trained (or just trained, during validation)
    step: int = 0  # optimizer steps taken so far
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    model: nn.Module | None = None  # the bare model (no DDP / compile wrapper): buffers, configs, inference
    precision: str = "fp32"  # fp32 | bf16 | fp16, as resolved for the device
    training: bool = True
    validation: int = 0  # validations run so far in this process (1 during the first one)


StepFn = Callable[..., tuple[Tensor, Mapping[str, Any]]]  # (model, batch[, context]) -> (loss, metrics)
EvaluateFn = Callable[[nn.Module, DataLoader], Mapping[str, float]]
AfterEvaluateFn = Callable[[nn.Module, StepContext], Mapping[str, float] | None]

LAST, BEST, METRICS, CURVES = "last.pt", "best.pt", "metrics.jsonl", "curves.png"
PLOT_INTERVAL_SECONDS = 60.0  # redraw curves.png at most this often during training (and once at the end)


@dataclass
class FitResult:
    run_dir: Path
    last_path: Path
    best_path: Path | None
    monitor: str
    best_metric: float | None
    epochs: int  # epochs completed
    steps: int  # optimizer steps taken in total
    stopped_early: bool = False
    history: list[dict] = field(default_factory=list)  # one record per epoch
    best_state: dict | None = None  # the best weights, kept in memory when the engine wrote no checkpoints


def _takes_context(function: Callable | None) -> bool:
    """Whether a step function accepts the third, context argument."""
    if function is None:
        return False
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return True
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3


@dataclass
class _Run:
    """The state of one ``fit``: what ``last.pt`` saves, and the loop's bookkeeping."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    schedule: Schedule
    steps_per_epoch: int
    monitor: str
    better: Callable[[float, float], bool]
    show: bool
    train_model: nn.Module | None = None
    base_lrs: list[float] = field(default_factory=list)
    epoch: int = 0
    batches_done: int = 0
    global_step: int = 0
    best_value: float | None = None
    bad_epochs: int = 0
    history: list[dict] = field(default_factory=list)
    epoch_metrics: _Accumulator = field(default_factory=lambda: _Accumulator())
    nonfinite: int = 0
    validations: int = 0
    stopped_early: bool = False
    reached_max: bool = False
    best_state: dict | None = None
    last_bar: float = 0.0
    last_plot: float = field(default_factory=time.monotonic)  # first redraw after PLOT_INTERVAL_SECONDS

    def set_lr(self) -> float:
        lr = self.schedule.lr_at(self.global_step)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = lr * base / self.schedule.lr
        return lr

    def context(self, trainer: Trainer) -> StepContext:
        return StepContext(
            epoch=self.epoch,
            step=self.global_step,
            device=trainer.device,
            model=self.model,
            precision=trainer.precision,
            training=True,
            validation=self.validations,
        )


def _curves_title(task: str, run_dir: Path) -> str:
    """``kws: run-3``, or the task alone when the folder is named after it (not ``kws: kws``)."""
    return task if run_dir.name in ("", task) else f"{task}: {run_dir.name}"


def move_to(batch: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """Tensors inside tuples, lists and dicts moved to ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, Mapping):
        return {key: move_to(value, device, non_blocking) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        moved = [move_to(value, device, non_blocking) for value in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)
    return batch


def batch_size_of(batch: Any) -> int:
    """Examples in a batch: the first dimension of its first tensor."""
    if isinstance(batch, Tensor):
        return batch.shape[0] if batch.dim() else 1
    values = batch.values() if isinstance(batch, Mapping) else batch if isinstance(batch, (list, tuple)) else []
    for value in values:
        size = batch_size_of(value)
        if size:
            return size
    return 0


def _seed_worker(worker_id: int) -> None:
    # torch seeds Python's and its own RNG in workers, not NumPy's: do it so augmentations differ per worker
    np.random.seed(torch.initial_seed() % 2**32)


class _Accumulator:
    """Example-weighted means of step metrics.

    A step only appends its values (no tensor arithmetic, no device sync); the sums are
    formed when the means are read, once per logging interval.
    """

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self._pending: dict[str, tuple[list, list[int]]] = {}

    def add(self, values: Mapping[str, Any], n: int) -> None:
        for key, value in values.items():
            pending = self._pending.get(key)
            if pending is None:
                pending = self._pending[key] = ([], [])
            pending[0].append(value.detach() if isinstance(value, Tensor) else value)
            pending[1].append(n)

    def _flush(self) -> None:
        for key, (values, sizes) in self._pending.items():
            if not values:
                continue
            if isinstance(values[0], Tensor) and values[0].device.type != "cpu":
                stacked = torch.stack([v.float().reshape(()) for v in values])
                total = float((stacked * torch.tensor(sizes, dtype=stacked.dtype, device=stacked.device)).sum())
            else:
                total = float(sum(float(v) * n for v, n in zip(values, sizes)))
            self.sums[key] = self.sums.get(key, 0.0) + total
            self.counts[key] = self.counts.get(key, 0) + sum(sizes)
        self._pending = {}

    def merge(self, other: _Accumulator) -> None:
        other._flush()
        for key, total in other.sums.items():
            self.sums[key] = self.sums.get(key, 0.0) + total
            self.counts[key] = self.counts.get(key, 0) + other.counts[key]

    def means(self) -> dict[str, float]:
        self._flush()
        return {key: total / self.counts[key] for key, total in self.sums.items() if self.counts[key]}

    def state(self) -> dict:
        self._flush()
        return {"sums": dict(self.sums), "counts": dict(self.counts)}

    def load(self, state: Mapping) -> None:
        self.sums, self._pending = {key: float(total) for key, total in state["sums"].items()}, {}
        if "counts" in state:
            self.counts = {key: int(n) for key, n in state["counts"].items()}
        else:  # checkpoints from before per-metric counts kept one example count shared by every metric
            self.counts = dict.fromkeys(self.sums, int(state.get("count", 0)))


class _GracefulInterrupt:
    """First Ctrl-C asks the loop to stop after the current step (and write last.pt); a second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> _GracefulInterrupt:
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("interrupt: stopping after this step and writing last.pt (Ctrl-C again to abort at once)")

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class Trainer:
    """Train ``model`` with ``step_fn`` on datasets, writing everything into ``run_dir``."""

    def __init__(
        self,
        *,
        task: str,
        model: nn.Module,
        step_fn: StepFn,
        config: TrainConfig,
        run_dir: str | Path,
        evaluate_fn: EvaluateFn | None = None,
        eval_step_fn: StepFn | None = None,
        after_evaluate: AfterEvaluateFn | None = None,
        collate_fn: Callable | None = None,
        model_config: Mapping[str, Any] | None = None,
        run_config: Any = None,
        labels: list[str] | None = None,
        features: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        parameter_groups: list[dict] | None = None,
        quiet: bool | None = None,
        save_checkpoints: bool = True,
        plot_curves: bool = True,
    ):
        self.task = task
        self.model = model
        self.step_fn = step_fn
        self.config = config
        self.run_dir = Path(run_dir)
        self.evaluate_fn = evaluate_fn  # a whole-loader evaluation, for metrics that are not means of batches
        self.eval_step_fn = eval_step_fn  # None: the training step; averaged over examples by the engine
        self.after_evaluate = after_evaluate  # extra validation work that is not per batch (plots)
        self._takes_context: dict[Callable, bool] = {}
        self.collate_fn = collate_fn
        self.model_config = dict(model_config or {})
        self.run_config = to_dict(run_config) if run_config is not None else to_dict(config)
        self.labels = labels
        self.features = dict(features or {})
        self.extra = dict(extra or {})
        self.parameter_groups = parameter_groups
        self.quiet = console_is_quiet() if quiet is None else quiet
        # off for harnesses that keep metrics only: FitResult.best_state then holds the best weights
        self.save_checkpoints = save_checkpoints
        self.plot_curves = plot_curves
        self.dist = distributed.DistributedInfo()
        self.device = torch.device("cpu")
        self.precision = "fp32"

    # ----------------------------------------------------------------- set-up
    def _optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        cfg = self.config
        params = self.parameter_groups or [p for p in model.parameters() if p.requires_grad]
        if cfg.optimizer == "adam":
            return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=True)

    def _loader(self, data: Dataset, sampler, epoch: int) -> DataLoader:
        cfg = self.config
        return DataLoader(
            data,
            batch_size=cfg.batch_size,
            sampler=sampler,
            collate_fn=self.collate_fn,
            num_workers=cfg.num_workers,
            pin_memory=self.device.type == "cuda",
            worker_init_fn=_seed_worker if cfg.num_workers else None,
            # the loader draws its worker base seed from this generator, never from the global RNG
            generator=torch.Generator().manual_seed(cfg.seed * 7919 + epoch),
            persistent_workers=False,
        )

    def _write_record(self, record: dict) -> None:
        if self.dist.is_main:
            with open(self.run_dir / METRICS, "a", encoding="utf-8") as handle:
                # a non-finite metric is written as null: strict JSON readers reject a bare NaN
                finite = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()}
                handle.write(json.dumps(finite) + "\n")

    def _truncate_records(self, step: int) -> None:
        """Drop records written after the checkpoint a resumed run starts from."""
        path = self.run_dir / METRICS
        if not (self.dist.is_main and path.exists()):
            return
        kept = []
        for line in path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line)
        path.write_text("".join(line + "\n" for line in kept))

    def _call_step(self, function: StepFn, model: nn.Module, batch: Any, context: Callable[[], StepContext]):
        """``function(model, batch[, context])``; the context is only built for functions that take it."""
        takes = self._takes_context.get(function)
        if takes is None:
            takes = self._takes_context[function] = _takes_context(function)
        return function(model, batch, context()) if takes else function(model, batch)

    def _train_step(self, model: nn.Module, batch: Any, run: _Run):
        return self._call_step(self.step_fn, model, batch, lambda: run.context(self))

    def _eval_step(self, model: nn.Module, batch: Any, context: StepContext):
        return self._call_step(self.eval_step_fn or self.step_fn, model, batch, lambda: context)

    # ----------------------------------------------------------------- evaluation
    def evaluate(self, model: nn.Module, data: Dataset, context: StepContext | None = None) -> dict[str, float]:
        """Validation metrics (prefixed ``val_``) of the bare model in eval mode.

        The engine averages the evaluation step's metrics over the examples (weighted by
        batch size); an ``evaluate_fn`` that needs the whole loader (exact metrics that
        are not means) still works. ``after_evaluate`` adds what is not a mean of batches
        (plots, free-running synthesis).
        """
        context = context or StepContext(device=self.device, model=unwrap(model), precision=self.precision)
        context = dataclasses.replace(context, training=False)
        sampler = ResumableSampler(len(data), shuffle=False)
        loader = self._loader(data, sampler, epoch=0)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                if self.evaluate_fn is not None:
                    with autocast(self.device, self.precision):
                        values = dict(self.evaluate_fn(model, loader))
                else:
                    accumulator = _Accumulator()
                    for batch in loader:
                        batch = move_to(batch, self.device, non_blocking=True)
                        with autocast(self.device, self.precision):
                            loss, metrics = self._eval_step(model, batch, context)
                        accumulator.add({"loss": loss, **metrics}, batch_size_of(batch))
                    values = accumulator.means()
                if self.after_evaluate is not None:
                    values.update(self.after_evaluate(model, context) or {})
        finally:
            model.train(was_training)
        return {f"val_{key}": float(value) for key, value in values.items()}

    # ----------------------------------------------------------------- training: set-up
    def _prepare_run_dir(self, resume: bool, overwrite: bool) -> None:
        """Refuse to overwrite a run silently; clear the old files on --overwrite (main process only)."""
        run_dir = self.run_dir
        if self.dist.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(run_dir)
            if (run_dir / LAST).exists() and not resume and not overwrite:
                raise UsageError(
                    f"{run_dir} already holds a training run; add --resume to continue it, or choose another --out"
                )
            if overwrite and not resume:
                for name in (LAST, BEST, METRICS, CURVES):
                    with contextlib.suppress(FileNotFoundError):
                        (run_dir / name).unlink()
        distributed.barrier(self.dist)

    def _schedule(self, steps_per_epoch: int) -> Schedule:
        cfg = self.config
        total_steps = min(cfg.max_steps or math.inf, steps_per_epoch * cfg.epochs)
        return Schedule(
            kind=cfg.schedule,
            lr=cfg.lr,
            total_steps=int(total_steps),
            warmup_steps=round(cfg.warmup_epochs * steps_per_epoch),
            warmup_start_lr=cfg.warmup_start_lr,
            min_lr=cfg.min_lr,
            plateau_factor=cfg.plateau_factor,
            plateau_patience=cfg.plateau_patience,
            mode=cfg.monitor_mode,
        )

    def _resume(self, run: _Run, resume: bool) -> None:
        """Restore weights, optimizer, scaler, schedule, position and RNG from ``last.pt``."""
        last_path = self.run_dir / LAST
        if not resume:
            return
        if not last_path.exists():  # a fresh start under --resume would hide a wrong --out from a cron job
            raise UsageError(f"{self.run_dir}: nothing to resume (no {LAST}); leave out --resume to start a new run")
        checkpoint = load_checkpoint(last_path, self.task)
        state = checkpoint.get("training_state")
        if state is None:
            raise UsageError(f"{last_path} holds no training state to resume from")
        load_state_dict(run.model, checkpoint, last_path)
        run.optimizer.load_state_dict(state["optimizer"])
        run.scaler.load_state_dict(state["scaler"])
        run.schedule.load_state_dict(state["schedule"])
        run.epoch, run.batches_done, run.global_step = state["epoch"], state["batches_done"], state["global_step"]
        run.best_value, run.bad_epochs = state["best_value"], state["bad_epochs"]
        run.history = list(state.get("history", []))
        run.epoch_metrics.load(state["epoch_metrics"])
        set_rng_state(state["rng"])
        self._truncate_records(run.global_step)
        log.info(f"resuming {self.run_dir} at epoch {run.epoch + 1}, step {run.global_step}")

    def _wrap(self, model: nn.Module) -> nn.Module:
        """What the step function is given: compiled and/or DDP-wrapped (``context.model`` is the bare one)."""
        if self.config.compile:
            model = torch.compile(model)
        if self.dist.enabled:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            model = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
        return model

    # ----------------------------------------------------------------- checkpoints
    def _training_state(self, run: _Run) -> dict:
        return {
            "optimizer": run.optimizer.state_dict(),
            "scaler": run.scaler.state_dict(),
            "schedule": run.schedule.state_dict(),
            "epoch": run.epoch,
            "batches_done": run.batches_done,
            "global_step": run.global_step,
            "best_value": run.best_value,
            "bad_epochs": run.bad_epochs,
            "history": run.history,
            "epoch_metrics": run.epoch_metrics.state(),
            "rng": rng_state(),
        }

    def _write_checkpoint(self, run: _Run, path: Path, metrics: Mapping[str, float], with_state: bool) -> None:
        if not (self.dist.is_main and self.save_checkpoints):
            return
        checkpoint = build_checkpoint(
            task=self.task,
            model=run.model,
            model_config=self.model_config,
            train_config=self.run_config,
            labels=self.labels,
            features=self.features,
            metrics={**metrics, "epoch": run.epoch, "step": run.global_step},
            extra=self.extra,
            training_state=self._training_state(run) if with_state else None,
        )
        save_checkpoint(checkpoint, path)

    # ----------------------------------------------------------------- training: the loop
    def _loss_if_finite_everywhere(self, loss: Tensor) -> float | None:
        """The loss value, or None when it is not finite on every process (then all ranks skip the step).

        One rank skipping backward while the others wait in the gradient all-reduce would hang
        the run, so under torchrun the ranks agree first (an all-reduce of a flag). Deciding to
        skip needs the host to know, so this is the one host-device sync of a training step; the
        step's other metrics stay on the device until a log step.
        """
        value = loss.item()  # the per-step sync (commented as what it is, as nanoGPT does)
        finite = math.isfinite(value)
        if self.dist.enabled:
            import torch.distributed as dist

            flag = torch.tensor([int(finite)], device=self.device if self.device.type == "cuda" else "cpu")
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
            finite = bool(flag.item())
        return value if finite else None

    def _optimizer_step(self, run: _Run, loss: Tensor) -> None:
        """One precision path: the scaler is a no-op unless fp16 (nanoGPT's ``GradScaler(enabled=...)``)."""
        cfg = self.config
        run.scaler.scale(loss).backward()
        if cfg.grad_clip:
            run.scaler.unscale_(run.optimizer)
            torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.optimizer.zero_grad(set_to_none=True)

    def _train_epoch(self, run: _Run, train_data: Dataset, sampler, interrupt, bar, task_bar) -> None:
        """Steps until the epoch ends, max_steps is reached or an interrupt is requested."""
        cfg = self.config
        window = _Accumulator()
        batches = self._loader(train_data, sampler, run.epoch)
        if cfg.prefetch:  # the dataset's batch work (augmentation) in a thread, overlapping the steps
            batches = prefetched(batches, cfg.prefetch)
        for batch in batches:
            lr = run.set_lr()
            batch = move_to(batch, self.device, non_blocking=True)
            size = batch_size_of(batch)
            with autocast(self.device, self.precision):
                loss, metrics = self._train_step(run.train_model, batch, run)
            loss_value = self._loss_if_finite_everywhere(loss)
            if loss_value is None:
                run.nonfinite += 1
                run.optimizer.zero_grad(set_to_none=True)
                log.warning(f"non-finite loss at step {run.global_step + 1}: step skipped ({run.nonfinite} in a row)")
                if run.nonfinite > cfg.max_nonfinite:
                    raise DivergedError(
                        f"training diverged: {run.nonfinite} non-finite losses in a row at step {run.global_step + 1}; "
                        f"{self.run_dir / LAST} holds the last good state (try a lower --lr or --precision fp32)"
                    )
                run.batches_done += 1
                continue
            run.nonfinite = 0
            self._optimizer_step(run, loss)
            run.global_step += 1
            run.batches_done += 1
            window.add({"loss": loss_value, **metrics}, size)  # metric tensors are read on the host at log steps
            if run.show and time.monotonic() - run.last_bar >= 0.1:
                bar.update(task_bar, completed=run.batches_done)
                run.last_bar = time.monotonic()
            if run.global_step % cfg.log_every == 0:
                means = window.means()  # the host-device sync of a log step
                run.epoch_metrics.merge(window)
                window = _Accumulator()
                self._write_record(
                    {"event": "train", "epoch": run.epoch + 1, "step": run.global_step, "lr": lr, **means}
                )
                bar.update(task_bar, info=f"loss {means['loss']:.4g}  lr {lr:.2e}")
            if cfg.max_steps is not None and run.global_step >= cfg.max_steps:
                run.reached_max = True
                break
            if interrupt.requested:
                break
            if (
                cfg.checkpoint_every
                and run.global_step % cfg.checkpoint_every == 0
                and run.batches_done < run.steps_per_epoch
            ):
                run.epoch_metrics.merge(window)
                window = _Accumulator()
                self._write_checkpoint(run, self.run_dir / LAST, {}, with_state=True)
        run.epoch_metrics.merge(window)

    def _end_epoch(self, run: _Run, val_data: Dataset | None, started: float) -> None:
        """Validate, track the best, early-stop, write the record and the checkpoints."""
        cfg = self.config
        epoch_done = run.batches_done >= run.steps_per_epoch
        record = {
            "event": "epoch",
            "epoch": run.epoch + 1,
            "step": run.global_step,
            "lr": run.schedule.lr_at(run.global_step),
        }
        record.update({f"train_{key}": value for key, value in self._reduce(run.epoch_metrics).items()})
        due = (run.epoch + 1) % cfg.validate_every == 0 or run.epoch + 1 == cfg.epochs or not epoch_done
        if val_data is not None and due:
            run.validations += 1
            values = self.evaluate(run.model, val_data, run.context(self)) if self.dist.is_main else None
            record.update(distributed.broadcast(values, self.dist))
        record["seconds"] = round(time.perf_counter() - started, 3)
        monitored = record.get(run.monitor)
        improved = False
        if monitored is not None and math.isfinite(monitored):
            improved = run.best_value is None or run.better(monitored, run.best_value)
            if improved:
                run.best_value, run.bad_epochs = monitored, 0
            elif epoch_done:
                run.bad_epochs += 1
            if epoch_done and run.schedule.observe(monitored):
                log.info(
                    f"{run.monitor} has not improved for {cfg.plateau_patience + 1} epochs: "
                    f"lr now {run.schedule.lr_at(run.global_step):.2e}"
                )
        record["best"] = improved
        if run.history and run.history[-1]["epoch"] == record["epoch"]:
            run.history[-1] = record  # a run stopped mid-epoch (max_steps) and resumed: the whole epoch supersedes
        else:
            run.history.append(record)
        self._write_record(record)
        floats = {k: v for k, v in record.items() if isinstance(v, float)}
        if improved or (val_data is None and epoch_done):
            self._write_checkpoint(run, self.run_dir / BEST, floats, with_state=False)
            if not self.save_checkpoints:  # the caller asked for no files: keep the best weights in memory
                run.best_state = {k: v.detach().cpu().clone() for k, v in run.model.state_dict().items()}
        if epoch_done:
            run.epoch, run.batches_done = run.epoch + 1, 0
            run.epoch_metrics = _Accumulator()
        if cfg.early_stopping is not None and run.bad_epochs >= cfg.early_stopping:
            run.stopped_early = True
            log.info(f"early stopping: {run.monitor} has not improved for {run.bad_epochs} epochs")
        self._write_checkpoint(run, self.run_dir / LAST, floats, with_state=True)
        if self.dist.is_main:
            if self.plot_curves and time.monotonic() - run.last_plot >= PLOT_INTERVAL_SECONDS:
                self._plot()
                run.last_plot = time.monotonic()
            if not self.quiet:
                log.info(_summary(record, cfg.epochs, run.monitor))
        distributed.barrier(self.dist)

    def _plot(self) -> None:
        plot_training_curves(
            self.run_dir / METRICS, self.run_dir / CURVES, title=_curves_title(self.task, self.run_dir)
        )

    def fit(
        self,
        train_data: Dataset,
        val_data: Dataset | None = None,
        *,
        resume: bool = False,
        overwrite: bool = False,
    ) -> FitResult:
        cfg = self.config
        self.dist = distributed.init_distributed()
        self.device = choose_device(cfg.device, local_rank=self.dist.local_rank if self.dist.enabled else None)
        self.precision = resolve_precision(cfg.precision, self.device)
        if len(train_data) == 0:
            raise UsageError("the training set is empty")
        monitor = cfg.monitor
        if monitor.startswith("val_") and val_data is None:
            monitor = "train_" + monitor.removeprefix("val_")  # no validation set: watch the training metric
        self._prepare_run_dir(resume, overwrite)

        model = self.model.to(self.device)
        sampler = ResumableSampler(
            len(train_data), shuffle=True, seed=cfg.seed, rank=self.dist.rank, world_size=self.dist.world_size
        )
        steps_per_epoch = math.ceil(sampler.per_rank / cfg.batch_size)
        run = _Run(
            model=model,
            optimizer=self._optimizer(model),
            scaler=torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16"),
            schedule=self._schedule(steps_per_epoch),
            steps_per_epoch=steps_per_epoch,
            monitor=monitor,
            better=(lambda a, b: a < b) if cfg.monitor_mode == "min" else (lambda a, b: a > b),
            show=not self.quiet and self.dist.is_main,
        )
        run.base_lrs = [group["lr"] for group in run.optimizer.param_groups]
        self._resume(run, resume)
        run.train_model = self._wrap(model)
        run.reached_max = cfg.max_steps is not None and run.global_step >= cfg.max_steps
        (log.debug if self.quiet else log.info)(
            f"training {self.task} on {self.device} ({self.precision}), "
            f"{sum(p.numel() for p in model.parameters()):,} parameters, {len(train_data):,} examples, "
            f"{steps_per_epoch} steps per epoch" + (f", {self.dist.world_size} processes" if self.dist.enabled else "")
        )
        model.train()
        with _GracefulInterrupt() as interrupt, progress(disable=not run.show) as bar:
            task_bar = bar.add_task("", total=steps_per_epoch, info="")
            while run.epoch < cfg.epochs and not run.stopped_early and not run.reached_max:
                started = time.perf_counter()
                sampler.set_epoch(run.epoch, skip=run.batches_done * cfg.batch_size)
                if hasattr(train_data, "set_epoch"):
                    train_data.set_epoch(run.epoch)
                bar.update(task_bar, description=f"epoch {run.epoch + 1}/{cfg.epochs}", completed=run.batches_done)
                self._train_epoch(run, train_data, sampler, interrupt, bar, task_bar)
                if run.show:
                    bar.update(task_bar, completed=run.batches_done)
                if interrupt.requested:
                    self._write_checkpoint(run, self.run_dir / LAST, {}, with_state=True)
                    distributed.barrier(self.dist)
                    raise KeyboardInterrupt(
                        f"interrupted at step {run.global_step}; {self.run_dir / LAST} written: resume with --resume"
                    )
                self._end_epoch(run, val_data, started)

        if self.plot_curves and self.dist.is_main and run.history:
            self._plot()
        best_path = self.run_dir / BEST if (self.run_dir / BEST).exists() else None
        result = FitResult(
            run_dir=self.run_dir,
            last_path=self.run_dir / LAST,
            best_path=best_path,
            monitor=monitor,
            best_metric=run.best_value,
            epochs=run.epoch,
            steps=run.global_step,
            stopped_early=run.stopped_early,
            history=run.history,
            best_state=run.best_state,
        )
        distributed.barrier(self.dist)
        return result

    def _reduce(self, accumulator: _Accumulator) -> dict[str, float]:
        """Epoch means over every process (all-reduced under torchrun)."""
        if not self.dist.enabled:
            return accumulator.means()
        import torch.distributed as dist

        accumulator.means()  # flush pending values
        keys = sorted(accumulator.sums)
        totals = [accumulator.sums[k] for k in keys] + [accumulator.counts[k] for k in keys]
        tensor = torch.tensor(totals, dtype=torch.float64, device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(tensor)
        totals = tensor.cpu().tolist()
        n = len(keys)
        return {key: totals[i] / totals[n + i] for i, key in enumerate(keys) if totals[n + i]}


def _summary(record: Mapping[str, Any], epochs: int, monitor: str) -> str:
    parts = [f"epoch {record['epoch']}/{epochs}"]
    for key, value in record.items():
        if key.startswith(("train_", "val_")) and isinstance(value, float):
            parts.append(f"{key} {value:.4g}")
    parts.append(f"lr {record['lr']:.2e}")
    parts.append(f"{record['seconds']:.1f}s")
    if record.get("best"):
        parts.append(f"(best {monitor})")
    return "  ".join(parts)


def finished_run(run_dir: str | Path) -> bool:
    return (Path(run_dir) / LAST).exists()


__all__ = ["Trainer", "FitResult", "TrainConfig", "move_to", "batch_size_of", "unwrap"]
