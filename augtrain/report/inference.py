"""The evaluation routine: a model's class logits for uint8 images, in the run's precision.

Every path that runs a trained model forward without training it goes through
`predict_batch`: validation each epoch, the final evaluation (metrics.json), `augtrain
evaluate` / `report` (with or without TTA), `predict` (files and arrays) and `features`.
The precision and memory format are a `device.DevicePolicy` (the run's own, resolved on the
device it runs on): nothing here picks a dtype itself.

    predict_batch(model, images, policy, views=(), binary=None, multi_label=None)
        -> logits (N, classes)
        images: uint8 (or float in [0, 1]) NCHW on any device; the result is float32 on
        the policy's device. `views`: test-time views (functions of the NCHW batch, e.g.
        `report.tta.apply_view`); with views the result is log(mean softmax) over them,
        which acts as logits everywhere (argmax, top-k, cross-entropy). A multi-label
        model's labels are each their own sigmoid: with views the result is the logit of
        each label's mean sigmoid probability, which acts as its logit everywhere
        (sigmoid, the threshold, binary cross-entropy).
    predict_batches(model, batches, policy, views=()) -> one result per batch, with the
        model in eval mode meanwhile (its mode is restored after)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..device import DevicePolicy
from ..models.classifier import class_logits, is_binary, is_multi_label

View = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def predict_batch(
    model: nn.Module,
    images: torch.Tensor,
    policy: DevicePolicy,
    views: Sequence[View] = (),
    binary: bool | None = None,
    multi_label: bool | None = None,
) -> torch.Tensor:
    """Class logits of one batch; see the module docstring. `binary`: whether the model has
    one output (--label-mode binary), `multi_label` whether it has a sigmoid per label
    (--label-mode multi), by default as `model` says (pass them for a wrapped model, e.g.
    under DDP, which hides the attribute). The model must be in eval mode."""
    binary = is_binary(model) if binary is None else binary
    multi_label = is_multi_label(model) if multi_label is None else multi_label
    if not views:
        x = policy.model_input(images)
        with policy.autocast():
            return class_logits(model(x).float(), binary)
    batch = images.to(policy.device, non_blocking=True)
    outputs = []
    for view in views:
        x = policy.model_input(view(batch))
        with policy.autocast():
            outputs.append(class_logits(model(x).float(), binary))
    logits = torch.stack(outputs)
    if multi_label:
        return mean_sigmoid_logit(logits)
    # log of the mean probability, computed stably in log space
    return torch.logsumexp(torch.log_softmax(logits, 2), 0) - math.log(len(views))


def mean_sigmoid_logit(logits: torch.Tensor) -> torch.Tensor:
    """logit(mean over dim 0 of sigmoid(logits)): each label's probability averaged over
    the views, as a logit. log p and log(1 - p) are each averaged in log space, so a
    probability near 0 or 1 keeps its precision (no logit of a rounded 1.0)."""
    log_p = torch.logsumexp(F.logsigmoid(logits), 0)
    log_not_p = torch.logsumexp(F.logsigmoid(-logits), 0)
    return log_p - log_not_p  # the log(views) of both means cancels


def predict_batches(
    model: nn.Module,
    batches: Iterable[torch.Tensor],
    policy: DevicePolicy,
    views: Sequence[View] = (),
    binary: bool | None = None,
    multi_label: bool | None = None,
) -> Iterator[torch.Tensor]:
    """`predict_batch` of each batch, in order, with the model in eval mode meanwhile."""
    was_training = model.training
    model.eval()
    try:
        for images in batches:
            yield predict_batch(model, images, policy, views, binary, multi_label)
    finally:
        model.train(was_training)


def nhwc_batches(images: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    """uint8 NHWC images (on any device) as NCHW batches of `batch_size`."""
    for i in range(0, len(images), batch_size):
        yield images[i : i + batch_size].permute(0, 3, 1, 2)


def predict_images(
    model: nn.Module,
    images: torch.Tensor,
    policy: DevicePolicy,
    batch_size: int = 500,
    views: Sequence[View] = (),
) -> torch.Tensor:
    """(N, classes) on the CPU for uint8 NHWC images: `predict_batches` over them."""
    out = [
        logits.cpu()
        for logits in predict_batches(model, nhwc_batches(images, batch_size), policy, views)
    ]
    return torch.cat(out) if out else torch.zeros(0, 0)
