"""A network's head and base: which modules the head is, and freezing the base.

The *head* is what `--freeze base` leaves trainable: a model's `head_names` attribute
(vgg16: `classifier`, googlenet: `fc`), else its `classifier`, `fc` or `head` submodule,
else its last dense layer. Everything else is the *base*.

Freezing keeps every parameter in the optimizer, in two groups (head, then base with
`lr_mult` = --base-lr-mult); frozen parameters have requires_grad False, so they get no
gradient and every optimizer skips them (`training.unfreeze.FreezeBase` unfreezes the base
at epoch --unfreeze-after; the optimizer needs no rebuilding).
"""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from ..errors import AugtrainError

BATCH_NORM = nn.modules.batchnorm._BatchNorm


def head_names(net: nn.Module) -> tuple[str, ...]:
    """Module names that make up the head (see the module docstring)."""
    names = getattr(net, "head_names", None)
    if names:
        return tuple(names)
    children = dict(net.named_children())
    for name in ("classifier", "fc", "head"):
        if isinstance(children.get(name), nn.Module):
            return (name,)
    last = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    if last:
        return (last[-1],)
    raise AugtrainError(
        f"{type(net).__name__}: cannot tell its head from its base "
        "(no classifier, fc or head submodule and no dense layer)"
    )


def in_head(key: str, heads: tuple[str, ...]) -> bool:
    return any(key == h or key.startswith(h + ".") for h in heads)


def split_parameters(net: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(head parameters, base parameters)."""
    heads = head_names(net)
    head, base = [], []
    for name, p in net.named_parameters():
        (head if in_head(name, heads) else base).append(p)
    return head, base


def freeze_base(net: nn.Module, frozen: bool = True) -> None:
    heads = head_names(net)
    for name, p in net.named_parameters():
        if not in_head(name, heads):
            p.requires_grad_(not frozen)


def param_groups(net: nn.Module, base_lr_mult: float = 1.0) -> list[dict[str, Any]]:
    """Two optimizer groups, head first (the trainer reports the first group's lr)."""
    head, base = split_parameters(net)
    groups = [{"params": head, "lr_mult": 1.0, "name": "head"}]
    if base:
        groups.append({"params": base, "lr_mult": float(base_lr_mult), "name": "base"})
    return groups


def base_norms(net: nn.Module) -> list[nn.Module]:
    """The base's batch norm layers (run in inference mode while the base is frozen)."""
    heads = head_names(net)
    return [
        m for n, m in net.named_modules() if isinstance(m, BATCH_NORM) and not in_head(n, heads)
    ]
