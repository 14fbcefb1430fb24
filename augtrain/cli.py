"""The `augtrain` command line.

Each subcommand lives in its own module in `augtrain/commands/` with
`register(subparsers)`; this file finds them, parses the arguments and turns
user errors (AugtrainError) into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pkgutil
import signal
import sys
import threading
from collections.abc import Iterator

from . import __version__, commands
from .errors import AugtrainError

# The order commands appear in `augtrain --help`; modules not listed come after.
ORDER = [
    "train",
    "evaluate",
    "predict",
    "preview",
    "models",
    "summary",
    "compare",
    "report",
    "runs",
    "export",
]


class Terminated(KeyboardInterrupt):
    """SIGTERM outside training (during start-up, decoding, evaluation): stop as Ctrl-C
    would, with one line and the exit code of a terminated process."""


@contextlib.contextmanager
def sigterm_stops() -> Iterator[None]:
    """SIGTERM raises Terminated while a command runs (training installs its own handler,
    which stops at a batch boundary and saves, and puts this one back after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Terminated("SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def exit_code_of(interrupt: KeyboardInterrupt) -> int:
    """130 for Ctrl-C, 143 for SIGTERM (128 + the signal number, as a shell reports it)."""
    from .training.loop import TrainingInterrupted

    by_sigterm = isinstance(interrupt, Terminated) or (
        isinstance(interrupt, TrainingInterrupted) and "SIGTERM" in str(interrupt)
    )
    return 128 + (signal.SIGTERM if by_sigterm else signal.SIGINT)


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="augtrain",
        description="Train, evaluate and ship image classifiers with fast batched augmentation.",
    )
    parser.add_argument("--version", action="version", version=f"augtrain {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    names = [m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")]
    names.sort(key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    for name in names:
        importlib.import_module(f"{commands.__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version and argparse's own errors
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with sigterm_stops():
            return int(args.func(args) or 0)
    except AugtrainError as e:
        print(f"augtrain {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        from .training.distributed import from_env

        code = exit_code_of(e)
        if from_env().is_main:  # under torchrun: one line, not one per process
            how = " (SIGTERM)" if code == 128 + signal.SIGTERM else ""
            print(f"augtrain {args.command}: interrupted{how}", file=sys.stderr)
        return code
    except BrokenPipeError:  # `augtrain predict ... | head`: the reader left, nothing to say
        # Python would report the failed flush of stdout at exit; point it at nothing instead
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
