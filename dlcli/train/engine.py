"""The training engine every task uses.

A task hands the engine a model, its datasets and a step function
``step(model, batch) -> (loss, metrics)``; the engine owns everything around it:
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
from dlcli.console import progress
from dlcli.errors import DivergedError, UsageError
from dlcli.files import remove_stale_temporaries
from dlcli.runtime import runtime
from dlcli.train import distributed
from dlcli.train.checkpoint import build_checkpoint, load_checkpoint, load_state_dict, save_checkpoint, unwrap
from dlcli.train.config import TrainConfig
from dlcli.train.device import autocast, choose_device, resolve_precision, rng_state, set_rng_state
from dlcli.train.plots import plot_training_curves
from dlcli.train.sampler import ResumableSampler
from dlcli.train.schedules import Schedule

log = logging.getLogger("dlcli.train")

StepFn = Callable[[nn.Module, Any], tuple[Tensor, Mapping[str, Any]]]
EvaluateFn = Callable[[nn.Module, DataLoader], Mapping[str, float]]

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
            if isinstance(values[0], Tensor):
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
        self.evaluate_fn = evaluate_fn
        self.collate_fn = collate_fn
        self.model_config = dict(model_config or {})
        self.run_config = to_dict(run_config) if run_config is not None else to_dict(config)
        self.labels = labels
        self.features = dict(features or {})
        self.extra = dict(extra or {})
        self.parameter_groups = parameter_groups
        self.quiet = runtime.quiet if quiet is None else quiet
        self.save_checkpoints = save_checkpoints  # off for experiment harnesses that keep metrics only
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
                handle.write(json.dumps(record) + "\n")

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

    # ----------------------------------------------------------------- evaluation
    def evaluate(self, model: nn.Module, data: Dataset) -> dict[str, float]:
        """Validation metrics (prefixed ``val_``) of the bare model in eval mode."""
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
                            loss, metrics = self.step_fn(model, batch)
                        accumulator.add({"loss": loss, **metrics}, batch_size_of(batch))
                    values = accumulator.means()
        finally:
            model.train(was_training)
        return {f"val_{key}": float(value) for key, value in values.items()}

    # ----------------------------------------------------------------- training
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
        device_name = runtime.device if cfg.device == "auto" and runtime.device != "auto" else cfg.device
        self.device = choose_device(device_name, local_rank=self.dist.local_rank if self.dist.enabled else None)
        precision = runtime.precision if cfg.precision == "auto" and runtime.precision != "auto" else cfg.precision
        self.precision = resolve_precision(precision, self.device)
        if len(train_data) == 0:
            raise UsageError("the training set is empty")
        monitor = cfg.monitor
        if monitor.startswith("val_") and val_data is None:
            monitor = "train_" + monitor.removeprefix("val_")  # no validation set: watch the training metric

        run_dir = self.run_dir
        last_path = run_dir / LAST
        if self.dist.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(run_dir)
            if last_path.exists() and not resume and not overwrite:
                raise UsageError(
                    f"{run_dir} already holds a training run; add --resume to continue it, or choose another --out"
                )
            if overwrite and not resume:
                for name in (LAST, BEST, METRICS, CURVES):
                    with contextlib.suppress(FileNotFoundError):
                        (run_dir / name).unlink()
        distributed.barrier(self.dist)

        model = self.model.to(self.device)
        optimizer = self._optimizer(model)
        scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        sampler = ResumableSampler(
            len(train_data), shuffle=True, seed=cfg.seed, rank=self.dist.rank, world_size=self.dist.world_size
        )
        steps_per_epoch = math.ceil(sampler.per_rank / cfg.batch_size)
        total_steps = min(cfg.max_steps or math.inf, steps_per_epoch * cfg.epochs)
        schedule = Schedule(
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
        base_lrs = [group["lr"] for group in optimizer.param_groups]
        better = (lambda a, b: a < b) if cfg.monitor_mode == "min" else (lambda a, b: a > b)

        epoch, batches_done, global_step = 0, 0, 0
        best_value: float | None = None
        bad_epochs = 0
        history: list[dict] = []
        epoch_metrics = _Accumulator()
        if resume and last_path.exists():
            checkpoint = load_checkpoint(last_path, self.task)
            state = checkpoint.get("training_state")
            if state is None:
                raise UsageError(f"{last_path} holds no training state to resume from")
            load_state_dict(model, checkpoint, last_path)
            optimizer.load_state_dict(state["optimizer"])
            scaler.load_state_dict(state["scaler"])
            schedule.load_state_dict(state["schedule"])
            epoch, batches_done, global_step = state["epoch"], state["batches_done"], state["global_step"]
            best_value, bad_epochs = state["best_value"], state["bad_epochs"]
            history = list(state.get("history", []))
            epoch_metrics.load(state["epoch_metrics"])
            set_rng_state(state["rng"])
            self._truncate_records(global_step)
            log.info(f"resuming {run_dir} at epoch {epoch + 1}, step {global_step}")
        elif resume:  # a fresh start under --resume would hide a wrong --out from a cron job
            raise UsageError(f"{run_dir}: nothing to resume (no {LAST}); leave out --resume to start a new run")

        train_model: nn.Module = model
        if cfg.compile:
            train_model = torch.compile(train_model)
        if self.dist.enabled:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            train_model = nn.parallel.DistributedDataParallel(train_model, device_ids=device_ids)

        def training_state() -> dict:
            return {
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "schedule": schedule.state_dict(),
                "epoch": epoch,
                "batches_done": batches_done,
                "global_step": global_step,
                "best_value": best_value,
                "bad_epochs": bad_epochs,
                "history": history,
                "epoch_metrics": epoch_metrics.state(),
                "rng": rng_state(),
            }

        def write_checkpoint(path: Path, metrics: Mapping[str, float], with_state: bool) -> None:
            if not (self.dist.is_main and self.save_checkpoints):
                return
            checkpoint = build_checkpoint(
                task=self.task,
                model=model,
                model_config=self.model_config,
                train_config=self.run_config,
                labels=self.labels,
                features=self.features,
                metrics={**metrics, "epoch": epoch, "step": global_step},
                extra=self.extra,
                training_state=training_state() if with_state else None,
            )
            save_checkpoint(checkpoint, path)

        def set_lr() -> float:
            lr = schedule.lr_at(global_step)
            for group, base in zip(optimizer.param_groups, base_lrs):
                group["lr"] = lr * base / cfg.lr
            return lr

        show = not self.quiet and self.dist.is_main
        scaling = scaler.is_enabled()
        last_bar = 0.0
        last_plot = time.monotonic()  # first redraw after PLOT_INTERVAL_SECONDS, the last one at the end
        stopped_early = False
        reached_max = cfg.max_steps is not None and global_step >= cfg.max_steps
        nonfinite = 0
        (log.debug if self.quiet else log.info)(
            f"training {self.task} on {self.device} ({self.precision}), "
            f"{sum(p.numel() for p in model.parameters()):,} parameters, {len(train_data):,} examples, "
            f"{steps_per_epoch} steps per epoch" + (f", {self.dist.world_size} processes" if self.dist.enabled else "")
        )
        model.train()
        with _GracefulInterrupt() as interrupt, progress(disable=not show) as bar:
            task_bar = bar.add_task("", total=steps_per_epoch, info="")
            while epoch < cfg.epochs and not stopped_early and not reached_max:
                started = time.perf_counter()
                sampler.set_epoch(epoch, skip=batches_done * cfg.batch_size)
                if hasattr(train_data, "set_epoch"):
                    train_data.set_epoch(epoch)
                bar.update(task_bar, description=f"epoch {epoch + 1}/{cfg.epochs}", completed=batches_done)
                window = _Accumulator()
                for batch in self._loader(train_data, sampler, epoch):
                    lr = set_lr()
                    batch = move_to(batch, self.device, non_blocking=True)
                    size = batch_size_of(batch)
                    with autocast(self.device, self.precision):
                        loss, metrics = self.step_fn(train_model, batch)
                    loss_value = loss.item()  # the one sync per step: the non-finite guard and the loss log
                    if not math.isfinite(loss_value):
                        nonfinite += 1
                        optimizer.zero_grad(set_to_none=True)
                        log.warning(f"non-finite loss at step {global_step + 1}: step skipped ({nonfinite} in a row)")
                        if nonfinite > cfg.max_nonfinite:
                            raise DivergedError(
                                f"training diverged: {nonfinite} non-finite losses in a row at step {global_step + 1}; "
                                f"{last_path} holds the last good state (try a lower --lr or --precision fp32)"
                            )
                        batches_done += 1
                        continue
                    nonfinite = 0
                    if scaling:
                        scaler.scale(loss).backward()
                        if cfg.grad_clip:
                            scaler.unscale_(optimizer)
                            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        loss.backward()
                        if cfg.grad_clip:
                            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                        optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    global_step += 1
                    batches_done += 1
                    window.add({"loss": loss_value, **metrics}, size)
                    if show and time.monotonic() - last_bar >= 0.1:
                        bar.update(task_bar, completed=batches_done)
                        last_bar = time.monotonic()
                    if global_step % cfg.log_every == 0:
                        means = window.means()
                        epoch_metrics.merge(window)
                        window = _Accumulator()
                        self._write_record(
                            {"event": "train", "epoch": epoch + 1, "step": global_step, "lr": lr, **means}
                        )
                        bar.update(task_bar, info=f"loss {means['loss']:.4g}  lr {lr:.2e}")
                    if cfg.max_steps is not None and global_step >= cfg.max_steps:
                        reached_max = True
                        break
                    if interrupt.requested:
                        break
                    if (
                        cfg.checkpoint_every
                        and global_step % cfg.checkpoint_every == 0
                        and batches_done < steps_per_epoch
                    ):
                        epoch_metrics.merge(window)
                        window = _Accumulator()
                        write_checkpoint(last_path, {}, with_state=True)
                epoch_metrics.merge(window)
                if show:
                    bar.update(task_bar, completed=batches_done)
                if interrupt.requested:
                    write_checkpoint(last_path, {}, with_state=True)
                    distributed.barrier(self.dist)
                    raise KeyboardInterrupt(
                        f"interrupted at step {global_step}; {last_path} written: resume with --resume"
                    )

                epoch_done = batches_done >= steps_per_epoch
                record = {"event": "epoch", "epoch": epoch + 1, "step": global_step, "lr": schedule.lr_at(global_step)}
                record.update({f"train_{key}": value for key, value in self._reduce(epoch_metrics).items()})
                due = (epoch + 1) % cfg.validate_every == 0 or epoch + 1 == cfg.epochs or not epoch_done
                validate = val_data is not None and due
                if validate:
                    values = self.evaluate(model, val_data) if self.dist.is_main else None
                    record.update(distributed.broadcast(values, self.dist))
                record["seconds"] = round(time.perf_counter() - started, 3)
                monitored = record.get(monitor)
                improved = False
                if monitored is not None and math.isfinite(monitored):
                    improved = best_value is None or better(monitored, best_value)
                    if improved:
                        best_value, bad_epochs = monitored, 0
                    elif epoch_done:
                        bad_epochs += 1
                    if epoch_done and schedule.observe(monitored):
                        log.info(
                            f"{monitor} has not improved for {cfg.plateau_patience + 1} epochs: lr now {schedule.lr_at(global_step):.2e}"
                        )
                record["best"] = improved
                if history and history[-1]["epoch"] == record["epoch"]:
                    history[-1] = record  # a run stopped mid-epoch (max_steps) and resumed: the whole epoch supersedes
                else:
                    history.append(record)
                self._write_record(record)
                if improved or (val_data is None and epoch_done):
                    write_checkpoint(
                        run_dir / BEST, {k: v for k, v in record.items() if isinstance(v, float)}, with_state=False
                    )
                if epoch_done:
                    epoch, batches_done = epoch + 1, 0
                    epoch_metrics = _Accumulator()
                if cfg.early_stopping is not None and bad_epochs >= cfg.early_stopping:
                    stopped_early = True
                    log.info(f"early stopping: {monitor} has not improved for {bad_epochs} epochs")
                write_checkpoint(last_path, {k: v for k, v in record.items() if isinstance(v, float)}, with_state=True)
                if self.dist.is_main:
                    if self.plot_curves and time.monotonic() - last_plot >= PLOT_INTERVAL_SECONDS:
                        plot_training_curves(run_dir / METRICS, run_dir / CURVES, title=f"{self.task}: {run_dir.name}")
                        last_plot = time.monotonic()
                    if not self.quiet:
                        log.info(_summary(record, cfg.epochs, monitor))
                distributed.barrier(self.dist)

        if self.plot_curves and self.dist.is_main and history:
            plot_training_curves(run_dir / METRICS, run_dir / CURVES, title=f"{self.task}: {run_dir.name}")
        best_path = run_dir / BEST if (run_dir / BEST).exists() else None
        result = FitResult(
            run_dir=run_dir,
            last_path=last_path,
            best_path=best_path,
            monitor=monitor,
            best_metric=best_value,
            epochs=epoch,
            steps=global_step,
            stopped_early=stopped_early,
            history=history,
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
