"""speednet: the speed-run network of `--preset speed`, after airbench (Keller Jordan, 2024).

    input (normalised)
      -> whiten: k x k conv (k=2), 2*C*k*k filters, frozen, set from the training data's
         patch covariance (every eigenvector, both signs), trainable bias; GELU
      -> block(w1) -> block(w2) -> block(w3)
           block: conv3x3 -> max-pool 2 -> BN -> GELU -> conv3x3 -> BN -> GELU
           (depth=3 adds conv3x3 -> BN -> GELU with a residual over the last two, airbench96)
      -> global max-pool -> linear (no bias) -> x logit_scale

Why each piece (numbers are airbench94's, tuned by its author on CIFAR-10):
- Patch whitening makes the first layer's outputs decorrelated with unit variance from
  step 0, so the net needs no epochs to learn that basis. Both signs (+v, -v) of each
  eigenvector, because GELU after it would otherwise discard half of each direction.
  eps=5e-4 keeps the tiny-eigenvalue directions (pixel noise, JPEG artefacts) from being
  blown up by 1/sqrt(eigenvalue).
- Convs have no bias (BN follows), and their first `in_channels` filters start as the
  identity (dirac): each block starts close to passing its input through, a residual
  connection without the addition.
- BN: no learned scale (weight frozen at 1: the next conv's weights can scale), only the
  bias trains, with a 64x learning rate (see `param_groups`); eps=1e-12 since the convs'
  outputs are never near-constant; running-statistics momentum 0.6 (torch: 1 - 0.6 =
  0.4), much faster than the usual 0.9, because a run has only ~500 steps and the
  statistics must follow weights that change fast.
- logit_scale 1/9: the linear layer's outputs are scaled down so the label-smoothed
  cross-entropy starts from near-uniform predictions; tuned in airbench.
- Pooling adapts to any input size: each block pools by 2 only while the map is at least
  2 pixels, and the head takes the max over whatever is left (at 32x32: 31 -> 15 -> 7 -> 3,
  the same 3x3 max as airbench's MaxPool2d(3)).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..device import to_float
from .registry import pair, register_model


class SpeedBatchNorm(nn.BatchNorm2d):
    """BatchNorm with the scale frozen at 1 and only the bias trained."""

    def __init__(self, channels: int, momentum: float = 0.6, eps: float = 1e-12) -> None:
        # torch's momentum is the weight of the new batch: 1 - (weight of the running value)
        super().__init__(channels, eps=eps, momentum=1.0 - momentum)
        self.weight.requires_grad_(False)


def speed_conv(cin: int, cout: int) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[: min(cin, cout)])  # identity start for the first cin filters
    return conv


class SpeedBlock(nn.Module):
    def __init__(
        self, cin: int, cout: int, pool: tuple[int, int], bn_momentum: float, depth: int = 2
    ) -> None:
        super().__init__()
        self.conv1 = speed_conv(cin, cout)
        self.pool = nn.MaxPool2d(pool) if pool != (1, 1) else nn.Identity()
        self.norm1 = SpeedBatchNorm(cout, bn_momentum)
        self.conv2 = speed_conv(cout, cout)
        self.norm2 = SpeedBatchNorm(cout, bn_momentum)
        self.conv3 = speed_conv(cout, cout) if depth >= 3 else None
        self.norm3 = SpeedBatchNorm(cout, bn_momentum) if depth >= 3 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.norm1(self.pool(self.conv1(x))))
        y = F.gelu(self.norm2(self.conv2(x)))
        if self.conv3 is None:
            return y
        return x + F.gelu(self.norm3(self.conv3(y)))


@register_model("speednet", "airbench-style speed-run net: frozen patch whitening + 3 conv blocks")
class SpeedNet(nn.Module):
    """Frozen patch-whitening conv + 3 VGG-like blocks with BN and GELU (airbench94)."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        input_size: int | tuple = 32,
        widths: Sequence[int] = (64, 256, 256),
        depth: int = 2,
        whiten_kernel: int = 2,
        whiten_eps: float = 5e-4,
        whiten_samples: int = 5000,
        whiten_bias_epochs: int = 3,
        bn_momentum: float = 0.6,
        logit_scale: float = 1 / 9,
        bias_lr_mult: float = 64.0,
    ) -> None:
        super().__init__()
        if depth not in (2, 3):
            raise ValueError(f"depth must be 2 or 3, got {depth}")
        h, w = pair(input_size)
        k = max(1, min(whiten_kernel, h, w))
        self.whiten_eps, self.whiten_samples = whiten_eps, whiten_samples
        self.whiten_bias_epochs, self.bias_lr_mult = whiten_bias_epochs, bias_lr_mult
        self.logit_scale = logit_scale
        self.whiten = nn.Conv2d(in_channels, 2 * in_channels * k * k, k, bias=True)
        self.whiten.weight.requires_grad_(False)
        with torch.no_grad():
            self.whiten.bias.zero_()
        h, w = h - k + 1, w - k + 1
        blocks, cin = [], self.whiten.out_channels
        for width in widths:
            pool = (2 if h >= 2 else 1, 2 if w >= 2 else 1)
            blocks.append(SpeedBlock(cin, int(width), pool, bn_momentum, depth))
            h, w, cin = h // pool[0], w // pool[1], int(width)
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(cin, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.whiten(x))
        x = self.blocks(x)
        x = torch.amax(x, dim=(2, 3))  # global max-pool
        return self.head(x) * self.logit_scale

    # ------------------------------------------------------------ training hooks
    @torch.no_grad()
    def init_from_data(
        self,
        images: torch.Tensor,
        mean: Sequence[float] | torch.Tensor | None = None,
        std: Sequence[float] | torch.Tensor | None = None,
    ) -> None:
        """Set the whitening filters from training images (uint8 or float NCHW).

        uint8 images are scaled to [0, 1] and normalised by `mean`/`std` (the
        Classifier's input normalisation), so the filters whiten what the net sees.
        Uses `whiten_samples` images spread evenly over the set (a class-sorted
        folder must not give only its first class).
        """
        n = images.shape[0]
        if n > self.whiten_samples:
            idx = torch.linspace(0, n - 1, self.whiten_samples, device=images.device).long()
            images = images[idx]
        x = to_float(images).float()  # uint8 as the model's input is made of it (device.py)
        c = x.shape[1]
        if mean is not None:
            x = x - torch.as_tensor(mean, dtype=x.dtype, device=x.device).reshape(1, c, 1, 1)
        if std is not None:
            x = x / torch.as_tensor(std, dtype=x.dtype, device=x.device).reshape(1, c, 1, 1)
        weight = whitening_filters(x, self.whiten.kernel_size, self.whiten_eps)
        self.whiten.weight.copy_(weight.to(self.whiten.weight))

    def param_groups(self) -> list[dict[str, Any]]:
        """Optimizer groups: BN biases at `bias_lr_mult` x the lr, weight decay divided by the
        same factor so that the decay per step (lr x weight_decay) stays that of the other
        weights: biases move fast but are not shrunk faster."""
        biases, others = [], []
        for name, p in self.named_parameters():
            if name == "whiten.weight":
                continue  # frozen
            if ".norm" in name:
                if p.requires_grad:
                    biases.append(p)
            elif p.requires_grad:
                others.append(p)
        m = self.bias_lr_mult
        return [
            {"params": others, "lr_mult": 1.0, "name": "weights"},
            {
                "params": biases,
                "lr_mult": m,
                "weight_decay_mult": 1.0 / m,
                "name": "bn_biases",
            },
        ]

    @property
    def early_epochs(self) -> int:
        """The first epochs whose steps cost more (the whitening bias's gradient needs the
        second conv's input gradient): --time-budget times both kinds of step."""
        return self.whiten_bias_epochs

    def set_epoch(self, epoch: int) -> None:
        """The whitening bias trains in the first `whiten_bias_epochs` epochs only, then freezes:
        it corrects the whitening's offset early and then stays out of the way."""
        self.whiten.bias.requires_grad_(epoch < self.whiten_bias_epochs)


def patches_of(x: torch.Tensor, kernel: tuple[int, int]) -> torch.Tensor:
    """Every kh x kw patch of NCHW images, as rows (n_patches, C*kh*kw) in conv weight order."""
    kh, kw = kernel
    c = x.shape[1]
    p = x.unfold(2, kh, 1).unfold(3, kw, 1)  # N, C, H', W', kh, kw
    return p.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * kh * kw)


def whitening_filters(
    x: torch.Tensor, kernel: tuple[int, int] | int, eps: float = 5e-4
) -> torch.Tensor:
    """Conv weights (2*D, C, kh, kw), D = C*kh*kw: eigenvectors of the patch covariance
    scaled by 1/sqrt(eigenvalue + eps), largest first, then the same with the sign flipped.

    The covariance is taken about zero, not the mean (as airbench): the inputs are
    already normalised to zero mean per channel and the trainable bias absorbs the rest.
    """
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    c = x.shape[1]
    d = c * kh * kw
    cov = torch.zeros(d, d, dtype=torch.float64, device=x.device)
    count = 0
    for chunk in x.split(256):  # chunks: 5000 32x32 images make 4.8M patches
        rows = patches_of(chunk.float(), (kh, kw))
        cov += (rows.T @ rows).double()  # float32 within a chunk, float64 across chunks
        count += rows.shape[0]
    eigenvalues, eigenvectors = torch.linalg.eigh((cov / max(count, 1)).cpu())  # ascending
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    filters = (eigenvectors / torch.sqrt(eigenvalues.clamp_min(0) + eps)).T
    filters = filters.reshape(-1, c, kh, kw)
    return torch.cat([filters, -filters]).float().to(x.device)
