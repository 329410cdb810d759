"""Rank and world size from the environment (torchrun), barriers and object broadcast.

Under ``torchrun`` (or Slurm launching torchrun) every process runs the same command; RANK,
WORLD_SIZE and LOCAL_RANK come from the launcher and torch.distributed does the rendezvous. In one
plain process every function here is a no-op, so the runner has a single code path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in a launched job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on the process that plans, shows progress and aggregates."""
        return self.rank == 0

    @property
    def launched(self) -> bool:
        """True when a launcher (torchrun) started several processes."""
        return self.world_size > 1


def env_from_launcher() -> DistEnv:
    """RANK / WORLD_SIZE / LOCAL_RANK as torchrun sets them; one process when absent."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    return DistEnv(rank=rank, world_size=world_size, local_rank=local_rank)


def is_initialized() -> bool:
    """True when a torch.distributed process group is up."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def init(env: DistEnv, timeout_minutes: float = 60.0) -> None:
    """Join the launcher's process group: gloo for CPU objects and barriers, nccl for CUDA tensors."""
    if not env.launched or is_initialized():
        return
    import torch
    import torch.distributed as dist

    backend = "gloo"
    if torch.cuda.is_available():
        backend = "cpu:gloo,cuda:nccl"
        torch.cuda.set_device(env.local_rank % torch.cuda.device_count())
    dist.init_process_group(
        backend=backend, rank=env.rank, world_size=env.world_size, timeout=timedelta(minutes=timeout_minutes)
    )


def destroy() -> None:
    """Leave the process group if one is up."""
    if is_initialized():
        import torch.distributed as dist

        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every process; a no-op in one process."""
    if is_initialized():
        import torch.distributed as dist

        dist.barrier()


def broadcast_object(value: Any, src: int = 0) -> Any:
    """`value` from rank `src` on every rank (pickled, over gloo on the CPU); identity in one process."""
    if not is_initialized():
        return value
    import torch
    import torch.distributed as dist

    holder = [value]
    dist.broadcast_object_list(holder, src=src, device=torch.device("cpu"))
    return holder[0]
