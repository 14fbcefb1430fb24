"""`augtrain train --gpus N`: start torchrun for the user.

    augtrain train --gpus 4 ARGS
      = torchrun --standalone --nproc_per_node=4 -m augtrain train ARGS

(torchrun is `python -m torch.distributed.run`.) With `--device cpu`, N CPU processes
train with gloo, each with cores / N threads. Several machines: run torchrun yourself
on each, with its rendezvous flags (see `distributed`); nothing augtrain-specific.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from ..errors import AugtrainError
from . import distributed


def relaunch_if_needed(
    nproc: int, parser: argparse.ArgumentParser, args: argparse.Namespace
) -> int | None:
    """Run this `augtrain train` under torchrun with `nproc` processes and return its exit
    code; None when there is nothing to do (one process, or already under torchrun)."""
    if nproc < 1:
        raise AugtrainError(f"--gpus must be >= 1, got {nproc}")
    if distributed.under_torchrun():
        world = distributed.from_env().world_size
        if world != nproc and distributed.from_env().is_main:
            print(f"note: --gpus {nproc} ignored under torchrun ({world} processes)", flush=True)
        return None
    if nproc == 1:
        return None
    on_cpu = str(getattr(args, "device", None) or _resumed_device(args) or "auto").startswith("cpu")
    if not on_cpu:
        import torch

        count = torch.cuda.device_count()
        if count < nproc:
            raise AugtrainError(
                f"--gpus {nproc}: this machine has {count} CUDA device(s); ask for at most "
                f"{count}, or add --device cpu to train with {nproc} CPU processes"
            )
    command = torchrun_command(nproc, ["train", *argv_from_args(parser, args, drop=("gpus",))])
    env = {**os.environ, "AUGTRAIN_GPUS": str(nproc)}  # for the "Resume with: ..." hint
    if on_cpu and "OMP_NUM_THREADS" not in env:  # torchrun's default would be 1 thread each
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    if getattr(args, "verbose", None) != 0:
        print(f"launching: {shlex.join(command)}", flush=True)
    proc = subprocess.Popen(command, env=env)
    # Ctrl-C reaches torchrun too (same process group), which passes it to the workers: they
    # save last.pt and stop. This process only waits, and exits as interrupted (130).
    interrupted: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
    try:
        code = proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    return 130 if interrupted and code != 0 else code


def _resumed_device(args: argparse.Namespace) -> str | None:
    """The --device of the run that --resume continues (its config.json)."""
    resume = getattr(args, "resume", None)
    if not resume:
        return None
    try:
        from ..runfolder import CONFIG

        return json.loads((Path(resume) / CONFIG).read_text())["config"].get("device")
    except (OSError, ValueError, KeyError):
        return None


def torchrun_command(nproc: int, argv: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "augtrain",
        *argv,
    ]


def argv_from_args(
    parser: argparse.ArgumentParser, args: argparse.Namespace, drop: tuple[str, ...] = ()
) -> list[str]:
    """The command line that gives `args` (every option that is set), less `drop`."""
    out: list[str] = []
    for action in parser._actions:
        if not action.option_strings or action.dest in drop or action.dest == "help":
            continue
        value = getattr(args, action.dest, None)
        if value is None or value == action.default:
            continue
        flag = next(
            (o for o in action.option_strings if o.startswith("--")), action.option_strings[0]
        )
        if isinstance(action, argparse._StoreConstAction):  # store_true / store_false / const
            out.append(flag)
        elif isinstance(action, argparse._AppendAction):
            for item in value:
                out += [flag, *(map(str, item) if isinstance(item, (list, tuple)) else [str(item)])]
        elif isinstance(action, argparse._CountAction):
            out += [flag] * int(value)
        elif isinstance(value, (list, tuple)):
            out += [flag, *map(str, value)]
        else:
            out += [flag, str(value)]
    return out
