"""The op registry: every op class by name, so a pipeline recorded in config.json
(`Compose.config()`) is rebuilt by `build_pipeline`."""

from __future__ import annotations

from typing import Any

from ...errors import AugtrainError
from ..pipeline import Compose, Op

OPS: dict[str, type[Op]] = {}


def register_op(cls: type[Op]) -> type[Op]:
    OPS[cls.__name__] = cls
    return cls


def build_pipeline(config: list[dict[str, Any]], seed: int = 0) -> Compose:
    """Rebuild a Compose from its `config()` list."""
    ops = []
    for entry in config:
        entry = dict(entry)
        name = entry.pop("op")
        if name not in OPS:
            raise AugtrainError(f"unknown augmentation op {name!r} in configuration")
        ops.append(OPS[name](**entry))
    return Compose(ops, seed=seed)
