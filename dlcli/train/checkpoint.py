"""The one checkpoint format of every dlcli task.

A checkpoint is a plain dict of tensors and Python primitives, so it loads with
``torch.load(weights_only=True)``: a checkpoint from a stranger cannot run code. It
carries everything inference needs to reproduce training's preprocessing (labels,
feature parameters, model configuration) and, in ``last.pt``, what an exact resume
needs (optimizer, scaler, schedule, RNG states, position in the epoch). Files are
written atomically: a crash never leaves a half-written checkpoint.
"""

from __future__ import annotations

import datetime as _dt
import pickle
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlcli import __version__
from dlcli.errors import CheckpointError
from dlcli.files import atomic_path

FORMAT = "dlcli-checkpoint"
FORMAT_VERSION = 1

_PLAIN = (str, int, float, bool, type(None), torch.Tensor, torch.dtype, torch.Size)


def _check_plain(value: Any, where: str) -> None:
    """Refuse values that ``weights_only`` loading would reject, at save time rather than load time."""
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"checkpoint key {key!r} at {where} must be str or int")
            _check_plain(item, f"{where}.{key}")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]")
        return
    raise TypeError(f"checkpoint value at {where} has type {type(value).__name__}; use plain Python values or tensors")


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside DistributedDataParallel and/or torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def build_checkpoint(
    *,
    task: str,
    model: nn.Module,
    model_config: Mapping[str, Any] | None = None,
    train_config: Mapping[str, Any] | None = None,
    labels: Iterable[str] | None = None,
    features: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    training_state: Mapping[str, Any] | None = None,
) -> dict:
    """Assemble a checkpoint dict (see the module docstring for what each part is for)."""
    checkpoint = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "task": task,
        "dlcli_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model_config": dict(model_config or {}),
        "train_config": dict(train_config or {}),
        "state_dict": {name: tensor.detach().cpu() for name, tensor in unwrap(model).state_dict().items()},
        "labels": list(labels) if labels is not None else None,
        "features": dict(features or {}),
        "metrics": dict(metrics or {}),
        "extra": dict(extra or {}),
    }
    if training_state is not None:
        checkpoint["training_state"] = dict(training_state)
    _check_plain({k: v for k, v in checkpoint.items() if k != "state_dict"}, "checkpoint")
    return checkpoint


def save_checkpoint(checkpoint: Mapping[str, Any], path: str | Path) -> Path:
    """Write atomically: a temporary file in the same folder, fsync, then rename."""
    path = Path(path)
    with atomic_path(path) as temporary:
        torch.save(dict(checkpoint), temporary)
    return path


def _foreign_kind(path: Path) -> str | None:
    """What a file that is not a zip archive looks like ("text file", ...); None for zip or empty files."""
    with path.open("rb") as handle:
        head = handle.read(512)
    if not head or head.startswith(b"PK\x03\x04"):
        return None
    if head.startswith((b"RIFF", b"fLaC", b"OggS", b"ID3")):
        return "sound file"
    return "binary file" if b"\x00" in head else "text file"


def load_checkpoint(
    path: str | Path, task: str | Iterable[str] | None = None, *, map_location: str | torch.device = "cpu"
) -> dict:
    """Load and validate a checkpoint; ``task`` restricts which tasks are accepted.

    Every failure is a ``CheckpointError`` with one line naming the file: missing,
    truncated or corrupted, not a dlcli checkpoint, a newer format, or another task's.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError("no such checkpoint file", path=path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                return load_checkpoint(path / name, task, map_location=map_location)
        raise CheckpointError("a folder without best.pt or last.pt", path=path)
    kind = _foreign_kind(path)
    if kind:  # torch has written zip archives since 1.6: text, audio or a legacy pickle is not a checkpoint
        raise CheckpointError(f"not a checkpoint but a {kind}", path=path)
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights_only" in str(error) or "Unsupported global" in str(error):
            raise CheckpointError(
                "holds Python objects that a safe load refuses to run; not a dlcli checkpoint", path=path
            ) from None
        raise CheckpointError("corrupted (cannot unpickle)", path=path) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, AttributeError, IndexError) as error:
        reason = "truncated or corrupted" if path.stat().st_size else "empty"
        raise CheckpointError(f"{reason}: not a readable checkpoint ({type(error).__name__})", path=path) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError("not a dlcli checkpoint (no dlcli format marker)", path=path)
    version = checkpoint.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"written in checkpoint format {version}, this dlcli ({__version__}) reads up to {FORMAT_VERSION}: upgrade dlcli",
            path=path,
        )
    if task is not None:
        accepted = (task,) if isinstance(task, str) else tuple(task)
        found = checkpoint.get("task")
        if found not in accepted:
            wanted = " or ".join(accepted)
            raise CheckpointError(f"a '{found}' checkpoint, but this command needs a '{wanted}' checkpoint", path=path)
    return checkpoint


def load_state_dict(model: nn.Module, checkpoint: Mapping[str, Any], path: str | Path | None = None) -> nn.Module:
    """Load the checkpoint's weights into ``model``; a mismatch is a CheckpointError, not a traceback."""
    try:
        unwrap(model).load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, KeyError) as error:
        first = str(error).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0] if first else ""
        raise CheckpointError(f"weights do not fit the model configuration: {detail[:200]}", path=path) from None
    return model
