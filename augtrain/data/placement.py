"""Where a split's images live while training reads batches of them (see device.py's
`plan_placement` for the choice):

    device   the whole uint8 split resident on the device; a batch is an index_select there
    host     in host memory (pinned for CUDA); each batch gathered into a pinned buffer and
             copied over without blocking
    mmap     memory-mapped from a file: the cache entry the split was read from, or, for
             arrays that came from memory, a spill file in the cache folder (unlinked once
             mapped); each batch read in sorted index order, so the pages are read forward
             through the file, then put back into the batch's order on the device

A batch is the same uint8 tensor in every placement, so training (keyed augmentation,
exact resume) gives the same history and weights wherever the data lives.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..device import gather_to_device, plan_placement
from . import cache
from .arrays import ImageArrays


@dataclass
class DeviceSplit:
    """A split as uint8 NHWC images and int64 labels, resident on the device; or, with
    `host_device` set, images kept in host memory (or, `mapped`, memory-mapped from a file)
    and each batch copied to that device."""

    x: torch.Tensor
    y: torch.Tensor
    host_device: torch.device | None = None  # where batches of a split off the device go
    mapped: bool = False  # x is backed by a memory-mapped file: batches read by sorted index

    @classmethod
    def from_arrays(
        cls,
        arrays: ImageArrays,
        device: torch.device,
        on_host: bool = False,
        placement: str | None = None,
        spill_dir: str | os.PathLike | None = None,
        pin: bool = True,
    ) -> DeviceSplit:
        """The split placed as `placement` says (device, host or mmap; `on_host` is the
        older spelling of host); a host split pinned for CUDA unless `pin` is False."""
        placement = placement or ("host" if on_host else "device")
        y = torch.from_numpy(np.ascontiguousarray(arrays.y)).to(device)  # small: on the device
        if placement == "device":
            return cls(torch.from_numpy(arrays.x).to(device), y)
        if placement == "host":
            return cls(host_tensor(arrays.x, pin=pin and device.type == "cuda"), y, device)
        mapped = memory_mapped(arrays.x, spill_dir)
        return cls(torch.from_numpy(mapped), y, device, mapped=True)

    @property
    def on_host(self) -> bool:
        return self.host_device is not None

    @property
    def placement(self) -> str:
        """device, host or mmap."""
        return "mmap" if self.mapped else "host" if self.on_host else "device"

    def __len__(self) -> int:
        return len(self.y)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images as an NCHW view (channels_last in memory) and labels."""
        if self.host_device is None:
            return self.x[index].permute(0, 3, 1, 2), self.y[index]
        if self.mapped:
            x = gather_sorted(self.x, index, self.host_device)
        else:
            x = gather_to_device(self.x, index, self.host_device)
        return x.permute(0, 3, 1, 2), self.y[index.to(self.y.device)]


def place_splits(
    splits: dict[str, ImageArrays | None],
    device: torch.device,
    announce: bool = True,
    placement: str = "auto",
    cache_root: str | os.PathLike | None = None,
    device_memory: Callable[[torch.device], tuple[int, int] | None] | None = None,
    host_memory: Callable[[], tuple[int, int] | None] | None = None,
) -> dict[str, DeviceSplit | None]:
    """Each split where `placement` puts it (auto: on `device` when it fits beside the
    headroom, else in host memory, else memory-mapped; see `device.plan_placement`), said
    in one line when not all are on the device and `announce`. The memory probes can be
    given (tests); by default they ask the device and the OS."""
    present = {name: a for name, a in splits.items() if a is not None}
    sizes = [a.x.nbytes + a.y.nbytes for a in present.values()]
    resident = [not is_memory_mapped(a.x) for a in present.values()]
    plan = plan_placement(
        sizes, device, list(present), placement, resident, device_memory, host_memory
    )
    if plan.message and announce:
        print(plan.message, flush=True)
    spill_dir = cache.cache_dir(cache_root)
    pinned = plan.pinned or tuple(True for _ in plan.kinds)
    placed = {
        name: DeviceSplit.from_arrays(a, device, placement=kind, spill_dir=spill_dir, pin=pin)
        for (name, a), kind, pin in zip(present.items(), plan.kinds, pinned)
    }
    return {name: placed.get(name) for name in splits}


def is_memory_mapped(x: np.ndarray) -> bool:
    """Whether the array's memory is a mapped file (a cache entry read back), not RAM."""
    while x is not None:
        if isinstance(x, (np.memmap, mmap.mmap)):
            return True
        x = getattr(x, "base", None)
    return False


def host_tensor(x: np.ndarray, pin: bool) -> torch.Tensor:
    """x as a tensor in host memory: read into RAM when it is memory-mapped, pinned when
    asked (CUDA copies from pinned memory without blocking). Pinning that fails (a locked
    memory limit) leaves plain memory: slower copies, the same batches."""
    if pin:
        try:
            out = torch.empty(x.shape, dtype=torch.uint8, pin_memory=True)
            out.numpy()[...] = x
            return out
        except RuntimeError:
            pass
    if is_memory_mapped(x):
        x = np.array(x)
    return torch.from_numpy(x)


def memory_mapped(x: np.ndarray, spill_dir: str | os.PathLike | None = None) -> np.ndarray:
    """x backed by a memory-mapped file: as it is when it already is (a cache entry);
    else written to a spill file in `spill_dir` (the cache folder) and mapped. The file is
    unlinked once mapped (the mapping keeps it until the process ends); where the OS will
    not unlink a mapped file, its temp name lets the cache's sweep remove it later."""
    if is_memory_mapped(x):
        return x
    folder = Path(spill_dir) if spill_dir is not None else cache.cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    # the temp-file name of augtrain.io's writes: the cache's sweep knows it by its pid
    fd, name = tempfile.mkstemp(prefix=f".spill.{os.getpid()}.", suffix=".tmp", dir=folder)
    path = Path(name)
    with os.fdopen(fd, "wb") as f:
        np.save(f, np.ascontiguousarray(x), allow_pickle=False)
    mapped = np.load(path, mmap_mode="c")  # copy-on-write: writable for torch, file unchanged
    try:
        path.unlink()
    except OSError:
        pass
    return mapped


def gather_sorted(mapped: torch.Tensor, index: torch.Tensor, device: torch.device) -> torch.Tensor:
    """mapped[index] on `device`, the rows read in ascending order (forward through the
    file: the OS reads ahead instead of seeking for each image), then put back into the
    order of `index` on the device."""
    ordered, order = torch.sort(index.to("cpu"))
    rows = gather_to_device(mapped, ordered, device)
    out = torch.empty_like(rows)
    return out.index_copy_(0, order.to(rows.device), rows)
