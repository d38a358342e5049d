"""The training run's configuration, shared by every task (each task sets its own defaults)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    epochs: int = 10  # passes over the training data
    max_steps: int | None = None  # stop after this many optimizer steps (None: the epochs decide)
    batch_size: int = 32  # examples per step and per process
    optimizer: str = "adam"  # adam | adamw | sgd
    lr: float = 1e-3  # peak learning rate
    weight_decay: float = 0.0  # L2 penalty (adam, sgd) or decoupled decay (adamw)
    momentum: float = 0.9  # sgd only
    schedule: str = "constant"  # constant | cosine (warm-up then cosine) | plateau (reduce on plateau)
    warmup_epochs: float = 0.0  # linear warm-up length, in epochs (fractions allowed)
    warmup_start_lr: float | None = None  # learning rate at the first step of warm-up (default lr / 10)
    min_lr: float = 0.0  # floor: end of the cosine, lowest plateau reduction
    plateau_factor: float = 0.5  # plateau: multiply the learning rate by this...
    plateau_patience: int = 4  # ...after this many epochs without improvement
    monitor: str = "val_loss"  # metric that picks best.pt, drives plateau and early stopping
    monitor_mode: str = "min"  # min | max: whether smaller or larger values of the monitor are better
    early_stopping: int | None = None  # stop after this many epochs without improvement (None: never)
    grad_clip: float | None = None  # clip the global gradient norm to this value
    precision: str = "auto"  # auto (bf16 on GPUs that have it, else fp16; fp32 on CPU) | fp32 | bf16 | fp16
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    compile: bool = False  # torch.compile the model (worth it for long GPU runs)
    seed: int = 0  # seeds data order, augmentation and initialisation
    num_workers: int = 0  # data-loading processes
    prefetch: int = 0  # training batches prepared ahead in a background thread (0: none)
    checkpoint_every: int = 0  # also write last.pt every N steps inside an epoch (0: at epoch ends only)
    log_every: int = 50  # steps between training-metric records in metrics.jsonl
    max_nonfinite: int = 20  # consecutive non-finite losses tolerated (steps skipped) before giving up
    validate_every: int = 1  # epochs between validations

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (self.lr > 0, "lr must be positive"),
            (
                self.optimizer in ("adam", "adamw", "sgd"),
                f"optimizer must be adam, adamw or sgd, not {self.optimizer!r}",
            ),
            (
                self.schedule in ("constant", "cosine", "plateau"),
                f"schedule must be constant, cosine or plateau, not {self.schedule!r}",
            ),
            (self.monitor_mode in ("min", "max"), f"monitor_mode must be min or max, not {self.monitor_mode!r}"),
            (
                self.precision in ("auto", "fp32", "bf16", "fp16"),
                f"precision must be auto, fp32, bf16 or fp16, not {self.precision!r}",
            ),
            (0 < self.plateau_factor < 1, "plateau_factor must be between 0 and 1"),
            (self.warmup_epochs >= 0, "warmup_epochs must not be negative"),
            (self.max_steps is None or self.max_steps >= 1, "max_steps must be at least 1"),
            (self.validate_every >= 1, "validate_every must be at least 1"),
            (self.prefetch >= 0, "prefetch must not be negative"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
