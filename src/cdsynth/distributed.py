"""torch.distributed helpers: the same code runs as one process or under `torchrun`."""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_rank() -> DistInfo:
    """Rank, world size and local rank as torchrun sets them ($RANK, $WORLD_SIZE,
    $LOCAL_RANK); one process without them. The one place the environment is read."""
    return DistInfo(
        int(os.environ.get("RANK", "0")),
        int(os.environ.get("WORLD_SIZE", "1")),
        int(os.environ.get("LOCAL_RANK", "0")),
    )


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group torchrun set up (gloo on CPU, nccl on GPU); no-op otherwise."""
    info = env_rank()
    if info.world_size <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        # left for interpreter teardown, the group's threads can abort the process at exit
        # ("terminate called without an active exception")
        atexit.register(_leave_group)
    return DistInfo(dist.get_rank(), dist.get_world_size(), info.local_rank)


def _leave_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.world_size > 1:
        dist.barrier()


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", env_rank().local_rank)
        return torch.device("cpu")
    if name == "cuda":
        return torch.device("cuda", env_rank().local_rank)
    return torch.device(name)


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
