"""torch.distributed set-up for runs launched with `torchrun` (DDP; NCCL on GPU, gloo on CPU)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistributedContext:
    """Join the process group described by torchrun's environment variables, if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank)


def shutdown_distributed(wait_for_all: bool = False) -> None:
    """Leave the process group; `wait_for_all` (after a run that finished normally) first waits at a
    barrier, so no rank tears its gloo connections down while another still uses them (a rank that
    left early made its peer abort with "terminate called without an active exception")."""
    if dist.is_available() and dist.is_initialized():
        if wait_for_all:
            dist.barrier()
        dist.destroy_process_group()


def mean_across_ranks(values: dict[str, float], context: DistributedContext, device: torch.device) -> dict[str, float]:
    """Average scalar metrics over all ranks (identity when not distributed)."""
    if not context.enabled or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    tensor /= context.world_size
    return dict(zip(keys, tensor.tolist()))
