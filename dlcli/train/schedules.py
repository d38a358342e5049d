"""Learning-rate schedules as pure functions of the step, plus a reduce-on-plateau factor.

Keeping the schedule a closed form of (step, plateau scale) makes resuming exact: the
whole state is two numbers and a counter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Schedule:
    kind: str  # constant | cosine | plateau
    lr: float
    total_steps: int
    warmup_steps: int = 0
    warmup_start_lr: float | None = None
    min_lr: float = 0.0
    plateau_factor: float = 0.5
    plateau_patience: int = 4
    mode: str = "min"
    # plateau state
    scale: float = 1.0
    best: float | None = None
    bad_epochs: int = 0

    def lr_at(self, step: int) -> float:
        """Learning rate for optimizer step ``step`` (0-based)."""
        start = self.lr / 10 if self.warmup_start_lr is None else self.warmup_start_lr
        if step < self.warmup_steps:
            return start + (self.lr - start) * step / self.warmup_steps
        if self.kind == "cosine":
            span = max(1, self.total_steps - 1 - self.warmup_steps)
            progress = min(1.0, (step - self.warmup_steps) / span)
            return self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
        if self.kind == "plateau":
            return max(self.min_lr, self.lr * self.scale)
        return self.lr

    def observe(self, value: float) -> bool:
        """Feed an epoch's monitored value (plateau only); True when the learning rate was cut."""
        if self.kind != "plateau" or value is None or not math.isfinite(value):
            return False
        improved = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
        if improved:
            self.best, self.bad_epochs = value, 0
            return False
        self.bad_epochs += 1
        if self.bad_epochs > self.plateau_patience:
            self.scale *= self.plateau_factor
            self.bad_epochs = 0
            return True
        return False

    def state_dict(self) -> dict:
        return {"scale": self.scale, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict) -> None:
        self.scale, self.best, self.bad_epochs = state["scale"], state["best"], state["bad_epochs"]
