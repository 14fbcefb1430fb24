"""Distributed training under torchrun: the same loop, one process per device.

    torchrun --nproc_per_node=4 -m augtrain train --model resnet18 --batch-size 512 ...
    augtrain train --gpus 4 ...                      (starts the torchrun above for you)
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d \\
             --rdzv-endpoint=HOST:29500 --rdzv-id=job1 -m augtrain train ...   (on each node)

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; `init()` joins the process group
(NCCL on GPUs, gloo on CPU). Rules:
- `batch_size` is the GLOBAL batch: every global batch (the same on every rank,
  from the keyed epoch order) is cut into world_size contiguous slices, one per
  rank; each rank augments its slice on its own device (augmentation is keyed by
  sample index, so a sample gets the same transform on any rank).
- DDP averages the gradients, weighted by each slice's share of the global batch,
  so one step equals one step of a single process with the same global batch and
  the same learning rate: changing the number of GPUs needs no LR change. (To use a
  bigger global batch, raise --batch-size and scale --lr yourself, e.g. linearly.)
  For models without batch norm or dropout the result equals one process up to float
  rounding (tests/test_distributed.py). BN layers see only their rank's slice unless
  --sync-bn (SyncBatchNorm, CUDA only) is given; dropout masks are keyed by rank.
- Stopping (EarlyStopping, TerminateOnNaN, Ctrl-C, SIGTERM) is agreed by all ranks after
  every batch (one tiny all-reduce), so they stop at the same step.
- Training and validation metrics are summed over ranks, so the reported accuracy
  is over the whole split; only rank 0 prints and writes files.
- Resume needs the run folder (last.pt) readable on every node; the world size may change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ..errors import AugtrainError


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def from_env() -> DistInfo:
    return DistInfo(
        int(os.environ.get("RANK", 0)),
        int(os.environ.get("WORLD_SIZE", 1)),
        int(os.environ.get("LOCAL_RANK", 0)),
    )


def under_torchrun() -> bool:
    """Started by torchrun (or another launcher that sets the env:// variables)?"""
    return "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ


def init(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun; a no-op otherwise."""
    info = from_env()
    if info.enabled and not dist.is_initialized():
        if device.type == "cuda":
            count = torch.cuda.device_count()
            if device.index is not None and device.index >= count:
                raise AugtrainError(
                    f"rank {info.rank} wants cuda:{device.index} but this node has {count} CUDA "
                    "device(s); start at most that many processes per node (--nproc_per_node)"
                )
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return info


def shard(index: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """This rank's contiguous slice of a global batch of indices."""
    if not info.enabled:
        return index
    return index.tensor_split(info.world_size)[info.rank]


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def any_flags(flags: list[bool], info: DistInfo, device: torch.device) -> list[bool]:
    """Each flag, True if it is True on any rank."""
    if not info.enabled:
        return list(flags)
    t = torch.tensor([int(f) for f in flags], dtype=torch.int32, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def broadcast_flag(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """Rank 0's decision (e.g. early stop) for every rank."""
    if not info.enabled:
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.broadcast(t, 0)
    return bool(t.item())


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's (picklable) object on every rank, e.g. the run folder it created."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
