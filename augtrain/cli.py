"""The `augtrain` command line.

Each subcommand lives in its own module in `augtrain/commands/` with
`register(subparsers)`; this file finds them, parses the arguments and turns
user errors (AugtrainError) into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import difflib
import importlib
import os
import pkgutil
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any, NoReturn

from . import commands
from ._version import __version__
from .errors import AugtrainError

# The order commands appear in `augtrain --help`; modules not listed come after.
ORDER = [
    "train",
    "lr_find",
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


class ShowDefaults(argparse.HelpFormatter):
    """Adds "(default: X)" to an option's help where it has a default worth saying: not
    None, False or empty, and not already told in the help text. The default shown is
    `action.shown_default` where a command sets one (train's come from TrainConfig, its
    flags defaulting to None so that only what was given overrides), else argparse's."""

    def _format_action(self, action: argparse.Action) -> str:
        note = default_note(action)
        if note and action.help is not argparse.SUPPRESS:
            action = copy.copy(action)
            action.help = f"{action.help} {note}" if action.help else note
        return super()._format_action(action)


def default_note(action: argparse.Action) -> str | None:
    if not action.option_strings or action.help is argparse.SUPPRESS:
        return None
    if action.help and "default" in action.help.lower():
        return None
    default = getattr(action, "shown_default", action.default)
    if default is None or default is False or default is argparse.SUPPRESS:
        return None
    if isinstance(default, (list, tuple, dict, str)) and not default:
        return None
    if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
        return None
    if isinstance(default, (list, tuple)):
        default = " ".join(map(str, default))
    return f"(default: {default})".replace("%", "%%")  # help strings are %-formatted


_FORMATTERS: dict[type, type] = {}


def with_defaults(formatter_class: type) -> type:
    """`formatter_class` that also shows defaults (RawDescriptionHelpFormatter stays raw)."""
    if issubclass(formatter_class, ShowDefaults):
        return formatter_class
    if formatter_class not in _FORMATTERS:
        name = f"ShowDefaults{formatter_class.__name__}"
        _FORMATTERS[formatter_class] = type(name, (ShowDefaults, formatter_class), {})
    return _FORMATTERS[formatter_class]


class ArgumentParser(argparse.ArgumentParser):
    """One-line errors, defaults in --help and "did you mean" for a mistyped flag or choice."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["formatter_class"] = with_defaults(
            kwargs.get("formatter_class", argparse.HelpFormatter)
        )
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:  # argparse's own errors: one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")

    def parse_args(self, args: Any = None, namespace: Any = None) -> argparse.Namespace:
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:  # reported by the subcommand that was given them, with its flags
            owner = self.subparser_of(namespace) or self
            owner.error(unrecognized(extras, owner))
        return namespace

    def subparser_of(self, namespace: argparse.Namespace) -> argparse.ArgumentParser | None:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                name = getattr(namespace, action.dest, None)
                return action.choices.get(name) if name else None
        return None

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        try:
            super()._check_value(action, value)
        except argparse.ArgumentError as e:  # argparse's "invalid choice: ...", plus a hint
            choices = [str(c) for c in action.choices or []]
            near = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.75)
            if not near:
                raise
            raise argparse.ArgumentError(
                action, f"{e.message}; did you mean {near[0]!r}?"
            ) from None


def unrecognized(extras: list[str], parser: argparse.ArgumentParser) -> str:
    """'unrecognized argument --lrr; did you mean --lr?', with the nearest known flag."""
    options = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    flags = [e for e in extras if e.startswith("-")]
    extras = flags or extras  # `--lrr 3`: the flag is the mistake; its value goes with it
    near = []
    for extra in extras:
        if extra.startswith("--"):
            found = difflib.get_close_matches(extra.split("=", 1)[0], options, n=1)
            near += [f for f in found if f not in near]
    s = "s" if len(extras) > 1 else ""
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    return f"unrecognized argument{s} {' '.join(extras)}{hint}"


def given_dests(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The destinations of the options `argv` actually gives (not argparse's defaults):
    parsed again with every default suppressed, so a default is never mistaken for a
    choice the user made (`--config` files lose only to what was typed)."""
    saved = [(action, action.default) for action in parser._actions]
    try:
        for action, _ in saved:
            action.default = argparse.SUPPRESS
        namespace, _ = parser.parse_known_args(argv)
    finally:
        for action, default in saved:
            action.default = default
    dests = {action.dest for action, _ in saved}
    return {k for k in vars(namespace) if k in dests}


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
    # what was typed, for commands that tell given flags from defaults (`train --config`)
    args.argv = list(sys.argv[1:] if argv is None else argv)
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
