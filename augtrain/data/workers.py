"""Parallel image decoding that works under every start method and never outlives its parent.

Processes are used only where they start by fork. Under spawn or forkserver (the default on
macOS and Windows, and `multiprocessing.set_start_method("spawn")` anywhere) each worker
re-imports the user's main script, and a script without an `if __name__ == "__main__":`
guard then re-runs itself in every worker and the pool breaks while bootstrapping. Decoding
runs in threads there instead: PIL releases the GIL while it decodes and resizes.

A forked worker must die with its parent: killed mid-decode, the parent leaves its workers
blocked forever on a queue nobody writes, each holding its decoded chunk. On Linux the
kernel sends them SIGKILL when the parent dies (PR_SET_PDEATHSIG); elsewhere, and as a
backstop, a thread in each worker watches for its parent pid to change.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_POLL_SECONDS = 0.5


def start_method() -> str:
    """The start method new processes would use, without fixing it as a side effect
    (`get_start_method()` with no argument would, and a later set_start_method then fails)."""
    return (
        multiprocessing.get_start_method(allow_none=True)
        or (
            multiprocessing.get_all_start_methods()[0]  # documented: the first is the default
        )
    )


def decode_executor(workers: int) -> Executor:
    """A pool of `workers` for decoding: forked processes when the start method is fork,
    else threads (see the module docstring)."""
    if start_method() != "fork":
        return ThreadPoolExecutor(workers, thread_name_prefix="augtrain-decode")
    # PR_SET_PDEATHSIG fires when the *thread* that forked the worker exits; the pool's
    # workers are forked by the thread that submits, so only trust it from the main thread.
    from_main_thread = threading.current_thread() is threading.main_thread()
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=die_with_parent,
        initargs=(os.getpid(), from_main_thread),
    )


def die_with_parent(parent_pid: int, use_pdeathsig: bool = True) -> None:
    """Pool initializer: end this worker as soon as the process that started it is gone."""
    if use_pdeathsig and sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watcher thread below still ends the worker
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent_pid,), name="augtrain-parent-watch", daemon=True
    ).start()


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(PARENT_POLL_SECONDS)
        if os.getppid() != parent_pid:  # reparented: the parent is dead
            os._exit(1)
