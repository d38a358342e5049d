"""One training engine for every task: device, precision, loop, checkpoints, resume, DDP."""

from dlcli.train.checkpoint import build_checkpoint, load_checkpoint, load_state_dict, save_checkpoint, unwrap
from dlcli.train.config import TrainConfig
from dlcli.train.device import autocast, choose_device, resolve_precision, seed_everything
from dlcli.train.engine import FitResult, Trainer, batch_size_of, move_to

__all__ = [
    "FitResult",
    "TrainConfig",
    "Trainer",
    "autocast",
    "batch_size_of",
    "build_checkpoint",
    "choose_device",
    "load_checkpoint",
    "load_state_dict",
    "move_to",
    "resolve_precision",
    "save_checkpoint",
    "seed_everything",
    "unwrap",
]
