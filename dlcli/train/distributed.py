"""DistributedDataParallel when launched by ``torchrun`` (one process per GPU, or gloo on CPUs)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistributedInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_distributed() -> DistributedInfo:
    """Join the process group that torchrun set up; a single process otherwise."""
    if not launched_by_torchrun():
        return DistributedInfo()
    info = DistributedInfo(
        rank=int(os.environ["RANK"]),
        world_size=int(os.environ["WORLD_SIZE"]),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend)
    return info


def barrier(info: DistributedInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()


def broadcast(value, info: DistributedInfo):
    """Rank 0's ``value`` on every rank (any picklable object)."""
    if not (info.enabled and dist.is_initialized()):
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shutdown(info: DistributedInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
