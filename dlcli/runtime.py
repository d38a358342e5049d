"""Options given once on the root command and read by every task: device, precision, seed, verbosity."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Runtime:
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    precision: str = "auto"  # auto | fp32 | bf16 | fp16
    seed: int | None = None  # overrides each command's own seed when given
    verbosity: int = 0  # -1 quiet, 0 normal, 1+ verbose (tracebacks on errors)

    @property
    def quiet(self) -> bool:
        return self.verbosity < 0


runtime = Runtime()


def reset(**values) -> Runtime:
    """Set the process-wide options (the root command calls this on every invocation)."""
    fresh = Runtime(**values)
    for name in fresh.__dataclass_fields__:
        setattr(runtime, name, getattr(fresh, name))
    return runtime


def train_overrides(section: str | None = "train", keys=("device", "precision", "seed")) -> dict:
    """The root options a run takes, as (dotted) config overrides: only those given on the command line.

    Commands resolve ``--device``, ``--precision`` and ``--seed`` here, once, into the
    run's configuration; library code (the engine) reads its configuration, never this object.
    """
    given = {"device": runtime.device, "precision": runtime.precision, "seed": runtime.seed}
    prefix = f"{section}." if section else ""
    return {f"{prefix}{key}": given[key] for key in keys if given[key] not in (None, "auto")}
