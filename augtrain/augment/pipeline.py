"""Augmentation pipelines: a list of ops applied to a batch, keyed by sample index.

An op is a thin class that holds its parameter ranges. Drawing is apart from
applying (torchvision v2's `make_params` / `transform`): `params(draw, shape)`
draws every sample's parameters from a keyed `Draw`, `apply(images, params)`
is a pure function of them (the kernels of `functional` and `geometry`), so a
front end that has its own parameters (Keras' `apply_transform`, TTA's fixed
views) calls `apply` alone. `Compose`
gives each op its own random stream, keyed by (seed, epoch, sample, position in
the pipeline, op name), so the transform of a sample never depends on the batch
it is in.

Ops that mix samples (mixup, cutmix) also change the labels: they set
`mixes_labels = True` and implement `mix(images, targets, draw)` on one-hot
float targets.
"""

from __future__ import annotations

from typing import Any

import torch

from .random import Draw


class Op:
    """Base class: subclasses implement `params(draw, shape)` and `apply(images, params)`.

    `shape` is the batch's shape (B, C, H, W) (any tuple ending in H, W will do for
    the ops that need only the image size). Ops without randomness keep the default
    `params`, an empty dict. Label-mixing ops implement `apply_mix` instead of `apply`.
    """

    mixes_labels = False

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        """Every sample's random parameters for a batch of `shape`, from `draw`."""
        return {}

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """The images transformed by `params` (what `params` returned): no randomness."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        return self.apply(images, self.params(draw, tuple(images.shape)))

    def apply_mix(
        self, images: torch.Tensor, targets: torch.Tensor, params: dict[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def mix(
        self, images: torch.Tensor, targets: torch.Tensor, draw: Draw
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.apply_mix(images, targets, self.params(draw, tuple(images.shape)))

    def config(self) -> dict[str, Any]:
        """The op's parameters, as recorded in config.json."""
        params = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        return {"op": type(self).__name__, **params}

    def __call__(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        return self.forward(images, draw)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "op")
        return f"{type(self).__name__}({args})"


class Compose:
    """Apply ops in order. `seed` keys all randomness; see `augment.random`."""

    def __init__(self, ops: list[Op] | tuple[Op, ...] = (), seed: int = 0) -> None:
        self.ops = list(ops)
        self.seed = seed

    @property
    def mixes_labels(self) -> bool:
        return any(op.mixes_labels for op in self.ops)

    def draw_for(self, position: int, index: torch.Tensor, epoch: int) -> Draw:
        op = self.ops[position]
        return Draw(self.seed, epoch, index, f"{position}:{type(op).__name__}")

    def __call__(
        self,
        images: torch.Tensor,
        index: torch.Tensor,
        epoch: int = 0,
        targets: torch.Tensor | None = None,
    ) -> Any:
        """Augment `images` (NCHW) whose dataset indices are `index`.

        Without `targets` returns the images. With `targets` (one-hot float, or
        integer labels when no op mixes) returns (images, targets).
        """
        index = index.to(images.device)
        for position, op in enumerate(self.ops):
            draw = self.draw_for(position, index, epoch)
            if op.mixes_labels:
                if targets is None:
                    raise ValueError(f"{type(op).__name__} mixes labels: pass targets")
                images, targets = op.mix(images, targets, draw)
            else:
                images = op(images, draw)
        return images if targets is None else (images, targets)

    def __len__(self) -> int:
        return len(self.ops)

    def __iter__(self):
        return iter(self.ops)

    def config(self) -> list[dict[str, Any]]:
        return [op.config() for op in self.ops]

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(map(repr, self.ops)) + "])"
