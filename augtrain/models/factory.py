"""Networks of your own: a `module:function` (or `module:Class`) that builds one.

A run trained with `--model pkg.nets:make_net` (or `network=` whose class can be rebuilt)
records that reference in its checkpoint, so `evaluate`, `predict`, `export`, `summary`
and `--resume` rebuild the network by importing it again, as they rebuild a registered
model by name. The factory is called with the keyword arguments its signature takes among
`num_classes`, `in_channels` and `input_size` (a (H, W) tuple), plus the run's
`--model-option`s.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import torch.nn as nn

from ..errors import AugtrainError

STANDARD_ARGUMENTS = ("num_classes", "in_channels", "input_size")


def is_reference(name: Any) -> bool:
    """A `module:function` reference rather than a registered model name."""
    return isinstance(name, str) and ":" in name


def import_factory(reference: str) -> Callable[..., Any]:
    """The callable `module:attr.path` names, or a one-line error saying why not."""
    module_name, _, attr_path = reference.partition(":")
    if not module_name or not attr_path:
        raise AugtrainError(f"model {reference!r}: write a network factory as module:function")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # ImportError, or the module failing as it runs
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AugtrainError(
            f"model {reference!r}: cannot import module {module_name!r} ({why}); "
            "is its folder on PYTHONPATH?"
        ) from None
    found: Any = module
    for part in attr_path.split("."):
        if not hasattr(found, part):
            raise AugtrainError(f"model {reference!r}: module {module_name!r} has no {attr_path!r}")
        found = getattr(found, part)
    if not callable(found):
        raise AugtrainError(f"model {reference!r}: {attr_path!r} is not callable")
    return found


def reference_of(obj: Any) -> str | None:
    """`module:qualname` of a function or class when importing it gives the same object
    back; None for lambdas, nested functions and the like."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None
    reference = f"{module}:{qualname}"
    try:
        return reference if import_factory(reference) is obj else None
    except AugtrainError:
        return None


def _accepts(factory: Callable[..., Any]) -> tuple[set[str], bool]:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return set(), True
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind is p.VAR_KEYWORD for p in params)


def call_factory(
    reference: str,
    num_classes: int,
    in_channels: int,
    input_size: tuple[int, int],
    **options: Any,
) -> nn.Module:
    """The network `reference` builds for this data; one-line errors for what goes wrong."""
    factory = import_factory(reference)
    names, any_keyword = _accepts(factory)
    standard = {"num_classes": num_classes, "in_channels": in_channels, "input_size": input_size}
    kwargs = {k: v for k, v in standard.items() if any_keyword or k in names}
    kwargs.update(options)
    try:
        network = factory(**kwargs)
    except TypeError as e:
        raise AugtrainError(f"model {reference!r}: {str(e).splitlines()[0]}") from None
    if not isinstance(network, nn.Module):
        raise AugtrainError(
            f"model {reference!r} returned {type(network).__name__}, not a torch.nn.Module"
        )
    return network


def same_layout(a: nn.Module, b: nn.Module) -> bool:
    """The same parameter and buffer names and shapes: b's state_dict loads into a."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(sa[k].shape == sb[k].shape for k in sa)


def rebuild_reference(
    network: nn.Module,
    factory: str | Callable[..., Any] | None,
    num_classes: int,
    in_channels: int,
    input_size: tuple[int, int],
    options: dict[str, Any],
) -> str | None:
    """How a run trained with `network=` records its network: `factory` (a reference or
    an importable callable), else the network's own class when calling it as a factory
    builds the same layout; None when neither can rebuild it."""
    if factory is not None:
        reference = factory if isinstance(factory, str) else reference_of(factory)
        if reference is None:
            raise AugtrainError(
                f"network_factory={factory!r} cannot be imported again (a lambda or nested "
                "function); give a module-level function or 'module:function'"
            )
        built = call_factory(reference, num_classes, in_channels, input_size, **options)
        if not same_layout(network, built):
            raise AugtrainError(
                f"network_factory {reference!r} builds a network whose weights do not match "
                f"network= ({type(network).__name__})"
            )
        return reference
    reference = reference_of(type(network))
    if reference is None:
        return None
    try:
        built = call_factory(reference, num_classes, in_channels, input_size, **options)
    except AugtrainError:  # its constructor needs arguments we do not know
        return None
    return reference if same_layout(network, built) else None
