"""Named training recipes: `augtrain train --preset speed` (or `augtrain.train(preset="speed")`).

A preset is a set of TrainConfig values (model options included). It fills in what
the user did not give: every explicit flag or keyword wins over the preset.

    speed       airbench94's recipe (94% on the lossless CIFAR-10 in ~3.5 s on an A100);
                on a machine without a GPU (CUDA or MPS) it becomes speed-cpu
    speed-cpu   the same recipe sized for a 2-core CPU and ~10 minutes
    speed95     airbench95's: wider (128/384/384), 15 epochs
    speed96     airbench96's: wider (128/512/512), 3 convs per block with a residual,
                translate 4 + cutout 12, 40 epochs
    general     the default job: `augtrain train --data DIR` with no --model and no
                --preset. On a GPU airbench94's recipe; on a CPU speed-cpu's, fitted to a
                10-minute budget (or to --time-budget) on the machine that runs it
    tutorial    the plain recipe of the Keras and PyTorch tutorials (TrainConfig's own
                defaults): cnn4, Adam, batch 32, random crop + flip, 10 epochs

--time-budget DURATION fits a speed recipe's scale (widths, epochs, batch) to the budget on
the machine that runs it (training/budget.py). On a CPU `--preset speed` (and the default
job) without a budget, --epochs, --batch-size or --model-option has a budget of 10 minutes
(DEFAULT_CPU_BUDGET): its fixed recipe was tuned on one CPU and takes five times that on
another. `speed-cpu` stays that fixed recipe; on a GPU `speed` is airbench94's, unchanged.

The recipes' numbers are airbench's (Keller Jordan, 2024), restated for augtrain's
mean-reduced loss (airbench sums the loss over the batch):
- lr: airbench gives it "per 1024 examples" and divides it by 1 + 1/(1 - momentum),
  the factor by which Nesterov momentum amplifies a constant gradient, so that lr and
  momentum can be tuned apart. For a mean loss over a batch of B:
      lr = lr_per_1024 * B / 1024 / (1 + 1 / (1 - momentum))      (11.5 -> 1.5 at B=1024)
  It is derived from the final batch size and momentum unless --lr is given.
- weight decay: airbench's 0.0153 "per 1024 examples", decoupled from the lr, is a
  torch SGD weight_decay of 0.0153 / lr_per_1024 (1.33e-3 for airbench94) at any batch size.
- schedule: lr factor 0.2 -> 1 over the first 23% of training, then linearly to 0.07.
- label smoothing 0.2; Nesterov momentum 0.85; batch 1024.
- augmentation: alternating flip + 2-pixel reflect translate (speed_ops.FlipTranslate).
- no per-epoch validation and one checkpoint at the end (both cost time; the final
  evaluation has test-time augmentation: mirror + 1-pixel translations, as airbench's level 2).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn

from .. import device
from ..errors import AugtrainError
from .callbacks import Callback

# airbench's momentum and the lr-amplification factor of Nesterov momentum at it.
MOMENTUM = 0.85
WEIGHT_DECAY_PER_1024 = 0.0153
WARMUP_FRACTION = 0.23  # fraction of training spent warming the lr up (airbench)
# `--preset speed` on a CPU: the budget it was sized for on the CPU it was tuned on.
DEFAULT_CPU_BUDGET = 600.0
# Settings that fix the recipe's scale: given any of them, the speed preset's implicit
# CPU budget does not apply (the user has sized the run).
SCALE_SETTINGS = ("epochs", "batch_size", "model_options")
# Presets that on a CPU are speed-cpu's recipe fitted to DEFAULT_CPU_BUDGET.
CPU_BUDGETED = ("speed", "general")


def speed_recipe(
    widths: tuple[int, int, int],
    epochs: int,
    lr_per_1024: float,
    batch_size: int = 1024,
    translate: int = 2,
    cutout: int = 0,
    depth: int = 2,
    description: str = "",
) -> dict[str, Any]:
    return {
        "description": description,
        "lr_per_1024": lr_per_1024,
        "values": {
            "model": "speednet",
            "model_options": {"widths": list(widths), "depth": depth},
            "input_norm": "standardize",
            "epochs": epochs,
            "batch_size": batch_size,
            "optimizer": "sgd",
            "momentum": MOMENTUM,
            "nesterov": True,
            "weight_decay": WEIGHT_DECAY_PER_1024 / lr_per_1024,
            "label_smoothing": 0.2,
            # airbench's linear warm-up and decay (not torch's cosine onecycle)
            "schedule": "triangle",
            "lr_start_factor": 0.2,
            "lr_end_factor": 0.07,
            "augment": [
                {
                    "op": "FlipTranslate",
                    "pixels": translate,
                    "flip": "alternating",
                    "padding_mode": "reflect",
                    "cutout": cutout,
                }
            ],
            "lookahead": True,
            "tta": "flip-translate",
            "validation": "none",
            # One checkpoint at the end: a write per epoch (weights, momentum, lookahead copy,
            # fsynced) would cost a large share of a GPU run that lasts seconds.
            "save_freq": "end",
        },
    }


PRESETS: dict[str, dict[str, Any]] = {
    # airbench94: 9.9 epochs there (48 full batches an epoch); here 10 epochs of 49
    # batches, the last one partial, because augtrain counts whole epochs.
    "speed": speed_recipe(
        (64, 256, 256), 10, 11.5, description="airbench94 recipe (GPU); speed-cpu without a GPU"
    ),
    # The 2-core CPU variant: airbench's half width (a full-width epoch costs several times
    # as much) and 13 epochs: one epoch more than the 12 tried first, for margin above 89%,
    # still inside 10 minutes on 2 cores (the figures: BENCHMARKS.md, speed preset).
    "speed-cpu": speed_recipe(
        (32, 128, 128), 13, 11.5, description="speed recipe sized for ~10 min on a 2-core CPU"
    ),
    "speed95": speed_recipe((128, 384, 384), 15, 10.0, description="airbench95 recipe"),
    "speed96": speed_recipe(
        (128, 512, 512), 40, 9.0, translate=4, cutout=12, depth=3, description="airbench96"
    ),
    # The default job (no --model, no --preset): airbench94's recipe on a GPU, speed-cpu's
    # on a CPU (`recipe_of`), where a budget sets its scale.
    "general": speed_recipe(
        (64, 256, 256), 10, 11.5, description="the default job: speed, fitted to 10m on a CPU"
    ),
    # TrainConfig's own defaults, named: the tutorial's plain recipe.
    "tutorial": {
        "description": "cnn4, Adam, batch 32, crop + flip, 10 epochs (the tutorial's)",
        "lr_per_1024": None,
        "values": {
            "model": "cnn4",
            "model_options": {},
            "epochs": 10,
            "batch_size": 32,
            "optimizer": "adam",
            "augment": "crop-flip",
        },
    },
}


def resolve_name(name: str, cuda: bool) -> str:
    """The preset that runs: `speed` is the GPU recipe on a GPU (CUDA or MPS), else
    `speed-cpu`."""
    if name not in PRESETS:
        raise AugtrainError(f"unknown --preset {name!r}; choose from {', '.join(PRESETS)}")
    if name == "speed" and not cuda:
        return "speed-cpu"
    return name


def recipe_of(resolved: str, cuda: bool) -> dict[str, Any]:
    """A resolved preset's recipe: the default job on a CPU is speed-cpu's."""
    if resolved == "general" and not cuda:
        return PRESETS["speed-cpu"]
    return PRESETS[resolved]


def apply_preset(name: str, explicit: dict[str, Any], cuda: bool) -> dict[str, Any]:
    """TrainConfig values: the preset's, overridden by `explicit` (what the user gave).

    Model options merge (the user's win) when the model is the preset's; with another
    model the preset's options are dropped. lr and warmup_epochs are derived from the
    final batch size, momentum and epochs unless given.
    """
    resolved = resolve_name(name, cuda)
    recipe = recipe_of(resolved, cuda)
    values = dict(recipe["values"])
    speed = recipe["lr_per_1024"] is not None
    if speed and not cuda and device.cpu_has_fast_bf16():
        values.update(amp="bf16", channels_last="on")  # oneDNN's bf16 convs want NHWC
    if name in CPU_BUDGETED and not cuda and not any(k in explicit for k in SCALE_SETTINGS):
        values["time_budget"] = DEFAULT_CPU_BUDGET
    out = {**values, **explicit, "preset": resolved}
    if out["model"] == recipe["values"]["model"]:
        out["model_options"] = {
            **recipe["values"]["model_options"],
            **(explicit.get("model_options") or {}),
        }
    elif "model_options" not in explicit:
        out["model_options"] = {}
    if not speed:
        return out
    given = {k for k, v in explicit.items() if v is not None}
    return derive_recipe_values(out, given, recipe["lr_per_1024"])


def derive_recipe_values(
    values: dict[str, Any], given: set[str], lr_per_1024: float | None
) -> dict[str, Any]:
    """A speed recipe's lr, weight decay and warm-up from its batch size, momentum and
    epochs (see the module docstring), each unless the user gave it; `lr_per_1024` None
    keeps the weight decay and derives the lr only where it was derived before."""
    out = dict(values)
    if lr_per_1024 is None:
        return out
    momentum = out["momentum"]
    if "lr" not in given and 0 <= momentum < 1:  # else validate names --momentum, not the lr
        out["lr"] = lr_per_1024 * out["batch_size"] / 1024 / (1 + 1 / (1 - momentum))
    if "weight_decay" not in given:
        out["weight_decay"] = WEIGHT_DECAY_PER_1024 / lr_per_1024
    if "warmup_epochs" not in given:
        out["warmup_epochs"] = WARMUP_FRACTION * out["epochs"]
    return out


def describe() -> str:
    return "; ".join(f"{name}: {p['description']}" for name, p in PRESETS.items())


# ------------------------------------------------------------ hooks used by run.train
def with_preset(
    config: Any,
    overrides: dict[str, Any],
    is_cuda: Callable[[str], bool],
    own_network: bool = False,
) -> dict[str, Any]:
    """The overrides for `TrainConfig.replace`, with the preset (if any) filled in: with no
    model and no preset (and no `own_network`, train's network=), the default job
    `general`.

    What counts as given: every keyword override, and every field of a passed config
    that differs from TrainConfig's default. `is_cuda(device_name)` says whether the
    run's device is a GPU (for `speed` -> `speed-cpu`).
    """
    from .config import TrainConfig

    name = overrides.get("preset") or (config.preset if config is not None else None)
    model_given = "model" in overrides or (
        config is not None and config.model != TrainConfig().model
    )
    if not name and not model_given and not own_network:
        name = "general"
    if not name:
        return overrides
    explicit: dict[str, Any] = {}
    if config is not None:
        default = TrainConfig()
        for f in dataclasses.fields(TrainConfig):
            value = getattr(config, f.name)
            if f.name != "preset" and value != getattr(default, f.name):
                explicit[f.name] = value
    explicit.update({k: v for k, v in overrides.items() if k != "preset"})
    return apply_preset(name, explicit, is_cuda(explicit.get("device", "auto")))


def recipe_setup(
    net: nn.Module, config: Any, groups: list[dict] | None
) -> tuple[list[dict] | None, list[Callback]]:
    """Optimizer groups and callbacks the network and config ask for.

    - a net with `param_groups()` (speednet) gets its groups, unless `groups` are set
      already (transfer learning's); a group's 'weight_decay_mult' becomes its weight_decay;
    - a net with `set_epoch(epoch)` is told each epoch (speednet freezes its whitening bias);
    - `lookahead` adds the Lookahead callback.
    """
    from .lookahead import Lookahead, NetEpochHook

    if groups is None and hasattr(net, "param_groups"):
        groups = []
        for g in net.param_groups():
            g = dict(g)
            mult = g.pop("weight_decay_mult", None)
            if mult is not None:
                g["weight_decay"] = config.weight_decay * mult
            if g["params"]:
                groups.append(g)
    callbacks: list[Callback] = []
    if hasattr(net, "set_epoch"):
        callbacks.append(NetEpochHook(net))
    if config.lookahead:
        callbacks.append(Lookahead())
    return groups, callbacks


@torch.no_grad()
def init_from_data(classifier: nn.Module, train_x: torch.Tensor) -> None:
    """Call the net's `init_from_data(uint8 NCHW images, mean, std)` if it has one
    (speednet's patch whitening); `train_x` is the training split's uint8 NHWC tensor."""
    net = getattr(classifier, "net", classifier)
    if hasattr(net, "init_from_data"):
        mean = getattr(classifier, "mean", None)
        std = getattr(classifier, "std", None)
        net.init_from_data(
            train_x.permute(0, 3, 1, 2),
            None if mean is None else mean.flatten(),
            None if std is None else std.flatten(),
        )
