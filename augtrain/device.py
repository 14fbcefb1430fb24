"""The device policy: which device a command runs on, in which precision and memory layout,
how uint8 images become model input, and whether a data split lives on the device.

    device   auto = CUDA (under torchrun the local rank's GPU), then Apple's MPS, then the
             CPU; or cpu, cuda, cuda:N, mps. An unknown or unavailable device is one
             AugtrainError line, raised before anything is loaded.
    amp      auto  bf16 autocast on a GPU that computes bf16 natively (CUDA compute
                   capability >= 8.0, MPS where torch allows it), float32 elsewhere (the CPU
                   included: the speed presets ask for bf16 on a CPU with native bf16);
             bf16  bf16 autocast; an error on a GPU without native bf16. The CPU always runs
                   it (natively with AVX512-BF16 or AMX, else emulated, slower than float32);
             fp16  float16 autocast; training scales the loss with a GradScaler;
             off   float32.
             Evaluation, TTA, predict and features use the run's own setting (config.json),
             resolved on the device they run on; there a bf16 the device lacks falls back to
             float32 instead of failing (a run trained on a GPU can still be evaluated).
    memory   channels_last auto = on for CUDA (cuDNN's fast convolutions want NHWC), off
             elsewhere; on / off force it.
    data     --placement auto: a split goes to the GPU when its bytes fit in the free memory
             less a headroom for the model's activations, gradients and optimizer state;
             otherwise it stays in host memory (pinned for CUDA) and each batch is gathered
             into pinned memory and copied over (non_blocking); a split that fits neither
             stays memory-mapped from its cache file, each batch read by sorted index.
             device / host / mmap force one place. `data.placement.place_splits` says in
             one line where the splits went when not all are on the device.
    host     while training, memory that tensors free stays in the process heap for the
             next step's to reuse (`freed_memory_kept`, glibc only); given back after.

AUGTRAIN_TEST_ACCELERATOR=1 makes the CPU count as an accelerator in every decision here
(bf16 autocast, channels_last, the placement check, the torch route of the augmentation
kernels), so the CPU tests run the branches that otherwise only a GPU takes;
AUGTRAIN_TEST_FREE_BYTES=N is then the free device memory the placement check sees, and
AUGTRAIN_TEST_HOST_FREE_BYTES=N the available host memory (with or without the switch).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from .errors import AugtrainError

AMP_MODES = ("auto", "off", "bf16", "fp16")
CHANNELS_LAST_MODES = ("auto", "on", "off")
TEST_ACCELERATOR_ENV = "AUGTRAIN_TEST_ACCELERATOR"
TEST_FREE_BYTES_ENV = "AUGTRAIN_TEST_FREE_BYTES"
# Kept free beside the data: the larger of a fixed amount and a share of the device's memory
# (activations grow with batch and model; the weights are on the device already).
MIN_HEADROOM_BYTES = 1 << 30
HEADROOM_FRACTION = 0.2


def emulating_accelerator() -> bool:
    """Whether AUGTRAIN_TEST_ACCELERATOR=1 makes the CPU act as an accelerator (tests only)."""
    return os.environ.get(TEST_ACCELERATOR_ENV, "") == "1"


def is_accelerator(device: torch.device) -> bool:
    """A GPU, or the CPU under the test switch: the devices the GPU branches are for."""
    return device.type in ("cuda", "mps") or (device.type == "cpu" and emulating_accelerator())


# -------------------------------------------------------------------------- device choice
def mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0))


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """The device `name` means here, checked: auto, cpu, cuda, cuda:N or mps.

    `cuda` without an index is the local rank's GPU under torchrun, cuda:0 otherwise.
    Unknown or unavailable devices raise AugtrainError (one line)."""
    text = str(name if name is not None else "auto").strip()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", _local_rank())
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise AugtrainError(
            f"--device {text!r}: unknown device; use auto, cpu, cuda, cuda:N or mps"
        ) from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = (
                "this torch build has no CUDA support"
                if torch.version.cuda is None and getattr(torch.version, "hip", None) is None
                else "no CUDA GPU is visible: check the driver and CUDA_VISIBLE_DEVICES"
            )
            raise AugtrainError(f"--device {text}: CUDA is not available ({why}); use --device cpu")
        count = torch.cuda.device_count()
        index = device.index if device.index is not None else _local_rank()
        if index >= count:
            raise AugtrainError(
                f"--device {text}: there is no cuda:{index}; this machine has {count} CUDA "
                f"device(s), cuda:0 to cuda:{count - 1}"
            )
        return torch.device("cuda", index)
    if device.type == "mps":
        if not mps_available():
            raise AugtrainError(
                f"--device {text}: Apple's MPS is not available (it needs a Mac with Apple "
                "silicon and a torch build with MPS); use --device cpu"
            )
        return torch.device("mps")
    raise AugtrainError(f"--device {text}: augtrain runs on cpu, cuda, cuda:N or mps")


# ------------------------------------------------------------------------------ precision
# oneDNN's instruction-set levels (ONEDNN_MAX_CPU_ISA) that multiply bf16 natively
_ONEDNN_BF16_ISAS = ("AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX10")


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX): then bf16 autocast
    runs the convs several times faster than float32 (BENCHMARKS.md, speed preset). Without
    it bf16 is emulated and slower than float32.

    oneDNN, which runs the convs, can be held below the CPU's instruction set
    (ONEDNN_MAX_CPU_ISA); held below AVX512_CORE_BF16 it emulates bf16 even here, as on an
    AVX2 machine (which is how an AVX2 CPU is imitated on one with bf16)."""
    limit = os.environ.get("ONEDNN_MAX_CPU_ISA", os.environ.get("DNNL_MAX_CPU_ISA", "")).upper()
    if limit and limit != "ALL" and not limit.startswith(_ONEDNN_BF16_ISAS):
        return False
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except Exception:  # private API: absent in some torch builds
        return False


def _cuda_native_bf16() -> bool:
    """Of the current CUDA device (the GPUs of one machine are alike, as a rule)."""
    try:  # torch >= 2.3 counts emulated bf16 (pre-Ampere) as supported unless told not to
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:
        return bool(torch.cuda.is_bf16_supported())


@functools.cache  # a tiny op on the GPU: once per process
def _mps_bf16() -> bool:
    try:  # bf16 on MPS needs macOS 14 and a recent torch; ask by trying
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # autocast warns and disables itself when it can't
            with torch.autocast("mps", dtype=torch.bfloat16):
                torch.ones(1, dtype=torch.bfloat16, device="mps").add_(1)
        return True
    except Exception:
        return False


def bf16_supported(device: torch.device) -> bool:
    """Whether `device` computes bf16 natively: CUDA by torch.cuda.is_bf16_supported, the
    CPU by `cpu_has_fast_bf16` (always, under the test switch), MPS as torch allows."""
    if device.type == "cuda":
        return _cuda_native_bf16()
    if device.type == "mps":
        return _mps_bf16()
    if device.type == "cpu":
        return emulating_accelerator() or cpu_has_fast_bf16()
    return False


@dataclass(frozen=True)
class DevicePolicy:
    """How a model runs on a device: autocast dtype, memory format, input conversion.

    Build it with `DevicePolicy.resolve(device, amp, channels_last)`; training, validation,
    evaluation, TTA, predict and features all run through one."""

    device: torch.device
    amp_dtype: torch.dtype | None = None  # None: float32
    channels_last: bool = False

    @classmethod
    def resolve(
        cls,
        device: torch.device | str,
        amp: str = "auto",
        channels_last: str = "auto",
        strict: bool = True,
    ) -> DevicePolicy:
        """The policy for `amp` (auto|off|bf16|fp16) and `channels_last` (auto|on|off).

        strict (training): an explicit bf16 on a GPU without it is an AugtrainError; not
        strict (inference from a run's config): it falls back to float32."""
        device = torch.device(device)
        if amp not in AMP_MODES:
            raise AugtrainError(f"--amp must be auto, bf16, fp16 or off, got {amp!r}")
        if channels_last not in CHANNELS_LAST_MODES:
            raise AugtrainError(f"channels_last must be auto, on or off, got {channels_last!r}")
        dtype: torch.dtype | None = None
        if amp == "fp16":
            dtype = torch.float16
        elif amp == "bf16":
            if device.type == "cpu" or bf16_supported(device):
                dtype = torch.bfloat16
            elif strict:
                raise AugtrainError(
                    f"--amp bf16: {_device_label(device)} has no native bf16; use --amp fp16 "
                    "(float16 with loss scaling) or --amp off"
                )
        elif amp == "auto" and is_accelerator(device) and bf16_supported(device):
            dtype = torch.bfloat16
        layout = channels_last == "on" or (
            channels_last == "auto" and (device.type == "cuda" or _emulated_cpu(device))
        )
        return cls(device, dtype, layout)

    @classmethod
    def for_run(cls, device: torch.device | str, config: dict | None) -> DevicePolicy:
        """The inference policy of a run: its config's amp and channels_last (defaults
        without a config), on `device`; a bf16 the device lacks becomes float32."""
        config = config or {}
        return cls.resolve(
            device, config.get("amp", "auto"), config.get("channels_last", "auto"), strict=False
        )

    def autocast(self) -> AbstractContextManager:
        """The autocast context of this policy (a reusable no-op in float32)."""
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """A GradScaler for fp16 training (float16 gradients underflow without loss
        scaling); None otherwise."""
        if self.amp_dtype != torch.float16:
            return None
        return torch.amp.GradScaler(self.device.type)

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """The model on the device, in this policy's memory format."""
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def model_input(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (or float) NCHW images on the device as the model's float input."""
        x = to_float(images.to(self.device, non_blocking=True))
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def describe(self) -> str:
        names = {torch.bfloat16: "bf16", torch.float16: "fp16", None: "float32"}
        return f"{self.device} {names[self.amp_dtype]}" + (
            ", channels_last" if self.channels_last else ""
        )


def _emulated_cpu(device: torch.device) -> bool:
    return device.type == "cpu" and emulating_accelerator()


def _device_label(device: torch.device) -> str:
    if device.type == "cuda":
        try:
            return f"{device} ({torch.cuda.get_device_name(device)})"
        except Exception:  # the name is a courtesy; the message must not fail for it
            pass
    return str(device)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [0, 1]; float input is returned as is."""
    if images.dtype == torch.uint8:
        return images.to(torch.float32).mul_(1.0 / 255.0)
    return images


# ------------------------------------------------------------------------------ placement
def free_memory(device: torch.device) -> tuple[int, int] | None:
    """(free, total) bytes of a CUDA device (faked under the test switch by
    AUGTRAIN_TEST_FREE_BYTES); None where there is no figure to go by (CPU, MPS)."""
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        return int(free), int(total)
    if _emulated_cpu(device) and os.environ.get(TEST_FREE_BYTES_ENV):
        free = int(os.environ[TEST_FREE_BYTES_ENV])
        return free, free
    return None


PLACEMENTS = ("auto", "device", "host", "mmap")
TEST_HOST_FREE_BYTES_ENV = "AUGTRAIN_TEST_HOST_FREE_BYTES"
# Host memory kept free beside a split read into it (the rest of the process, the OS).
MIN_HOST_HEADROOM_BYTES = 1 << 30
HOST_HEADROOM_FRACTION = 0.1


def host_free_memory() -> tuple[int, int] | None:
    """(available, total) bytes of host memory: Linux's MemAvailable (free memory plus the
    page cache it can drop), else free pages; AUGTRAIN_TEST_HOST_FREE_BYTES fakes it."""
    if os.environ.get(TEST_HOST_FREE_BYTES_ENV):
        free = int(os.environ[TEST_HOST_FREE_BYTES_ENV])
        return free, free
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f if ":" in line}
        return info["MemAvailable"], info["MemTotal"]
    except (OSError, KeyError, ValueError, IndexError):
        pass
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        return os.sysconf("SC_AVPHYS_PAGES") * page, os.sysconf("SC_PHYS_PAGES") * page
    except (AttributeError, OSError, ValueError):
        return None  # no figure (Windows): the host is taken to have room


@dataclass(frozen=True)
class Placement:
    """Where each split lives, and why: "device" (resident there), "host" (host memory,
    each batch copied over) or "mmap" (memory-mapped from a file, each batch read by
    index); `message` is the one line that says so when not every split is on the device."""

    kinds: tuple[str, ...]
    message: str | None = None
    # per split: whether a host split may take a pinned copy (CUDA copies it without
    # blocking); not for one already in memory when the host has no room for a second copy
    pinned: tuple[bool, ...] | None = None

    @property
    def on_device(self) -> tuple[bool, ...]:
        return tuple(kind == "device" for kind in self.kinds)


def plan_placement(
    sizes: Sequence[int],
    device: torch.device,
    names: Sequence[str],
    placement: str = "auto",
    resident: Sequence[bool] | None = None,
    device_memory: Callable[[torch.device], tuple[int, int] | None] | None = None,
    host_memory: Callable[[], tuple[int, int] | None] | None = None,
) -> Placement:
    """Where each split (its byte size, in order of need) goes.

    auto: on `device` when it fits beside the headroom; else in host memory when it is
    there already (`resident`: not memory-mapped) or fits the host's available memory
    beside its headroom; else memory-mapped from disk. On a plain CPU the device is the
    host: a split stays as it is unless it is neither resident nor fits, then mmap.
    device / host / mmap force that place for every split. The probes (free device memory,
    available host memory) can be given, for tests and callers that know better."""
    if placement not in PLACEMENTS:
        raise AugtrainError(f"--placement {placement!r}: choose from {', '.join(PLACEMENTS)}")
    resident = list(resident) if resident is not None else [True] * len(sizes)
    if placement != "auto":
        kinds = tuple(placement for _ in sizes)
        message = None  # forced: host splits are pinned (plain memory if pinning fails)
        if placement != "device" and sizes:
            message = f"data: --placement {placement}: " + _where(names, sizes, kinds, device)
        return Placement(kinds, message)
    # a probe given is asked whatever the device (tests on a CPU); the default only for GPUs
    if device_memory is not None:
        memory = device_memory(device)
    else:
        memory = free_memory(device) if is_accelerator(device) else None
    budget: float = math.inf
    if memory is not None:
        free, total = memory
        budget = free - max(MIN_HEADROOM_BYTES, int(HEADROOM_FRACTION * total))
    host = (host_memory or host_free_memory)()
    host_budget: float = math.inf
    if host is not None:
        host_free, host_total = host
        host_budget = host_free - max(
            MIN_HOST_HEADROOM_BYTES, int(HOST_HEADROOM_FRACTION * host_total)
        )
    on_cpu = memory is None  # no device memory to go by: the data stays where it is
    kinds_list, pinned = [], []
    for size, in_ram in zip(sizes, resident):
        pin = False
        if on_cpu and in_ram:
            kind = "device"
        elif not on_cpu and size <= budget:
            kind, budget = "device", budget - size
        elif size <= host_budget:  # read into memory (or pinned beside the copy there)
            kind, pin, host_budget = "device" if on_cpu else "host", True, host_budget - size
        elif in_ram:  # in memory already, no room for a pinned second copy: used as it is
            kind = "device" if on_cpu else "host"
        else:
            kind = "mmap"
        kinds_list.append(kind)
        pinned.append(pin)
    kinds = tuple(kinds_list)
    if all(kind == "device" for kind in kinds):
        return Placement(kinds, pinned=tuple(pinned))
    if memory is not None:
        room = f"{device}'s {_gib(memory[0])} of free memory beside the model's headroom"
    else:
        room = f"{device}"
    if "mmap" in kinds and host is not None:
        room += f" (nor the host's {_gib(host[0])} available)"
    off = [(n, s, k) for n, s, k in zip(names, sizes, kinds) if k != "device"]
    listed = " and ".join(f"{n} ({_gib(s)})" for n, s, _ in off)
    verb = "does" if len(off) == 1 else "do"
    message = f"data: {listed} {verb} not fit in {room}: " + _kept(
        [n for n, _, k in off if k == "host"], [n for n, _, k in off if k == "mmap"]
    )
    return Placement(kinds, message, tuple(pinned))


def _where(names: Sequence[str], sizes: Sequence[int], kinds: Sequence[str], device) -> str:
    listed = " and ".join(f"{n} ({_gib(s)})" for n, s in zip(names, sizes))
    host = [n for n, k in zip(names, kinds) if k == "host"]
    mapped = [n for n, k in zip(names, kinds) if k == "mmap"]
    return f"{listed} for {device}: " + _kept(host, mapped)


def _kept(host: Sequence[str], mapped: Sequence[str]) -> str:
    """The clause that says where the splits off the device are and how batches travel."""
    parts = []
    if host:
        parts.append("kept in host memory, each batch copied over")
    if mapped:
        parts.append("memory-mapped from disk, each batch read by index")
    if host and mapped:
        parts = [f"{' and '.join(host)} {parts[0]}", f"{' and '.join(mapped)} {parts[1]}"]
    return "; ".join(parts)


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def gather_to_device(host: torch.Tensor, index: torch.Tensor, device: torch.device) -> torch.Tensor:
    """host[index] on `device`: gathered into pinned memory (when CUDA is there to pin for),
    then copied without blocking. Pinned batch buffers come from torch's caching host
    allocator, which keeps each one until its copy is done, so reusing them is safe."""
    index = index.to(host.device)
    pin = device.type == "cuda"
    out = torch.empty((len(index), *host.shape[1:]), dtype=host.dtype, pin_memory=pin)
    torch.index_select(host, 0, index, out=out)
    return out.to(device, non_blocking=pin)


# ------------------------------------------------------------------------- host memory
# glibc's mallopt parameters (malloc.h) and its defaults, restored after a run.
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_DEFAULT_TRIM_THRESHOLD, _DEFAULT_MMAP_MAX = 128 * 1024, 65536
# A user's own glibc tuning is theirs: with any of these set nothing changes; nor with
# AUGTRAIN_KEEP_FREED_MEMORY=0 (glibc as it is; benchmarks/heap_reuse.py compares the two).
_USER_MALLOC_ENV = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
KEEP_FREED_MEMORY_ENV = "AUGTRAIN_KEEP_FREED_MEMORY"
_kept_depth = 0


@functools.cache  # looked up once a process, not at every train() call
def _glibc() -> Any:
    """The process's glibc through ctypes, or None (musl, macOS, Windows, another malloc)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (glibc only)
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except (OSError, AttributeError):
        return None


@contextlib.contextmanager
def freed_memory_kept() -> Iterator[bool]:
    """Inside the block, memory that tensors free stays in the process heap for the next
    tensors to reuse; after it, what is unused goes back to the system. Yields whether it
    could (glibc, no MALLOC_* tuning of the user's, no AUGTRAIN_KEEP_FREED_MEMORY=0).

    Why: glibc serves each block over 32 MiB with a fresh mmap and unmaps it when freed,
    so every training step's large activations (a 1,024-image batch of 32-channel 32x32
    float32 maps is 128 MiB a layer) are new pages the kernel faults in and zeroes, on the
    CPU's own time (BENCHMARKS.md, "Host memory reuse").
    Re-entrant: only the outermost block restores glibc's defaults."""
    global _kept_depth
    opted_out = os.environ.get(KEEP_FREED_MEMORY_ENV) == "0"
    libc = None if opted_out or any(k in os.environ for k in _USER_MALLOC_ENV) else _glibc()
    if libc is None:
        yield False
        return
    if _kept_depth == 0:
        libc.mallopt(_M_MMAP_MAX, 0)  # large blocks from the heap, not mmap
        libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)  # a freed heap top stays mapped
    _kept_depth += 1
    try:
        yield True
    finally:
        _kept_depth -= 1
        if _kept_depth == 0:
            libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
            libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
            libc.malloc_trim(0)


def keeping_freed_memory(fn: Callable) -> Callable:
    """`fn` run inside `freed_memory_kept` (training entry points: train, Keras' fit)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with freed_memory_kept():
            return fn(*args, **kwargs)

    return run
