"""The `augtrain` command line.

Each subcommand lives in its own module in `augtrain/commands/` with
`register(subparsers)`; this file finds them, parses the arguments and turns
user errors (AugtrainError) into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

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
        return int(args.func(args) or 0)
    except AugtrainError as e:
        print(f"augtrain {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        from .training.distributed import from_env

        if from_env().is_main:  # under torchrun: one line, not one per process
            print(f"augtrain {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
