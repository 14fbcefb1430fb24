"""Models looked up by name. Every model is a small nn.Module class taking
(num_classes, in_channels, input_size, **options), registered with a decorator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch.nn as nn

from ..errors import AugtrainError


@dataclass
class ModelEntry:
    name: str
    cls: Callable[..., nn.Module]
    description: str


MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, description: str = "") -> Callable:
    """Class decorator: make the model available as `name` in the CLI and API."""

    def decorate(cls: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        doc = (cls.__doc__ or "").strip().splitlines()
        MODELS[name] = ModelEntry(name, cls, description or (doc[0] if doc else ""))
        return cls

    return decorate


def create_model(
    name: str,
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int | tuple[int, int] = 32,
    pretrained: bool = False,
    **options: Any,
) -> nn.Module:
    """Build model `name`, or the network a `module:function` reference builds (see
    `factory`); unknown names and options are one-line errors.

    `pretrained=True`: with the layout options of its published ImageNet weights (under
    the `options` given) and those weights loaded, downloaded into the cache on first use
    (see `pretrained`); a different `num_classes` gets a freshly initialised classifier.
    Every model carries `default_cfg` (timm's name): input size, mean/std, weights URL."""
    if ":" in name:
        from .factory import call_factory

        model = call_factory(name, num_classes, in_channels, pair(input_size), **options)
        _check_input_size(model, name, in_channels, pair(input_size))
        return model
    from . import pretrained as weights

    if name not in MODELS:
        raise AugtrainError(f"unknown model {name!r}; choose from {', '.join(sorted(MODELS))}")
    if pretrained:
        options = weights.options_for(name, options)
    try:
        model = MODELS[name].cls(
            num_classes=num_classes, in_channels=in_channels, input_size=input_size, **options
        )
    except (TypeError, ValueError) as e:  # bad options: a user error, not a bug
        raise AugtrainError(f"model {name!r}: {e}") from None
    _check_input_size(model, name, in_channels, pair(input_size))
    model.default_cfg = weights.default_cfg(name, pair(input_size), in_channels)
    if pretrained:
        weights.load_pretrained(model, name)
    return model


SMALL_INPUT = 32  # every registered model takes 32x32; below, try one image through it


def _check_input_size(model: nn.Module, name: str, channels: int, size: tuple[int, int]) -> None:
    """Images too small for a model's pools (1x1, 4x4) are a one-line error here, not a
    RuntimeError from deep inside the first training step. A probe at batch 1 costs little
    at these sizes; larger inputs are not probed."""
    if min(size) >= SMALL_INPUT:
        return
    import torch

    was_training = model.training
    model.eval()  # batch norm in training mode refuses a batch of one
    try:
        with torch.no_grad():
            model(torch.zeros(1, channels, *size))
    except RuntimeError as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AugtrainError(
            f"model {name!r} cannot take {size[0]}x{size[1]} images ({reason}); "
            "resize them with --target-size H W or choose another model"
        ) from None
    finally:
        model.train(was_training)


def list_models() -> list[str]:
    return sorted(MODELS)


def pair(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def parse_options(items: list[str] | None) -> dict[str, Any]:
    """`KEY=VALUE` strings -> model options; values as JSON where they parse (1, 0.5, true,
    [1, 2]), 'true'/'false' in any case as booleans, else as strings."""
    import json

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AugtrainError(
                f"--model-option {item!r}: expected KEY=VALUE, e.g. layout=imagenet"
            )
        if value.lower() in ("true", "false"):
            out[key.strip()] = value.lower() == "true"
            continue
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out
