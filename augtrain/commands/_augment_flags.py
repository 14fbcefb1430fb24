"""The CLI's augmentation flags (a helper of the train and preview commands, not a command:
the leading underscore keeps `cli.build_parser` from registering it): a preset name
(`--augment crop-flip`) or Keras-named flags.

    --augment keras-basic
    --rotation-range 10 --width-shift-range 0.1 --height-shift-range 0.1 --horizontal-flip
    --augment crop-flip --cutout 16 --mixup 0.2

The flags are `augtrain.augment.settings`' settings, named as ImageDataGenerator names
its arguments; this module only declares them and turns the parsed strings into
values. The Keras-named ones build one op, the one an ImageDataGenerator with the same
arguments applies (same draws, same pixels). When --augment is given too, its ops come
first; without it the flags alone make the pipeline.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..augment.presets import PRESETS
from ..augment.settings import SETTINGS, augment_config
from ..errors import AugtrainError

# setting -> its flag, where the two are not named alike
FLAG_OF = {"interpolation": "warp_interpolation"}
FLAG_NAMES = tuple(FLAG_OF.get(name, name) for name in SETTINGS)


def add_augment_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("augmentation (training data only)")
    g.add_argument(
        "--augment",
        default=None,
        metavar="PRESET",
        help=f"named pipeline: {', '.join(PRESETS)} (default crop-flip)",
    )
    g.add_argument(
        "--random-resized-crop",
        nargs="?",
        type=float,
        const=0.08,
        metavar="SCALE_MIN",
        help="RandomResizedCrop first: a box of SCALE_MIN..1 of the area (default 0.08) and "
        "aspect 3/4..4/3, resized to --target-size (use with --cache-size)",
    )
    g.add_argument(
        "--rotation-range", type=float, metavar="DEG", help="random rotation in [-DEG, DEG]"
    )
    g.add_argument(
        "--width-shift-range",
        nargs="+",
        metavar="W",
        help="horizontal shift: fraction of the width (<1), whole pixels (>=1), or a list of choices",
    )
    g.add_argument(
        "--height-shift-range",
        nargs="+",
        metavar="H",
        help="vertical shift, as --width-shift-range",
    )
    g.add_argument("--shear-range", type=float, metavar="DEG", help="shear angle in [-DEG, DEG]")
    g.add_argument(
        "--zoom-range",
        nargs="+",
        type=float,
        metavar="Z",
        help="Z gives [1-Z, 1+Z], or LOWER UPPER",
    )
    g.add_argument(
        "--horizontal-flip",
        action="store_true",
        default=None,
        help="mirror left-right half the time",
    )
    g.add_argument(
        "--vertical-flip", action="store_true", default=None, help="mirror top-bottom half the time"
    )
    g.add_argument(
        "--fill-mode",
        metavar="MODE",
        help="outside the image: constant, nearest (default), reflect, wrap",
    )
    g.add_argument("--cval", type=float, help="fill value (0..255) of --fill-mode constant")
    g.add_argument(
        "--warp-interpolation",
        metavar="I",
        help="bilinear (default) or nearest sampling of the warp",
    )
    g.add_argument(
        "--brightness-range",
        nargs="+",
        type=float,
        metavar="B",
        help="Keras' brightness shift: stretch to 0..255, then multiply by U(LOWER, UPPER)",
    )
    g.add_argument("--channel-shift-range", type=float, metavar="R", help="add U(-R, R) levels")
    g.add_argument(
        "--color-jitter",
        nargs="+",
        type=float,
        metavar="V",
        help="BRIGHTNESS [CONTRAST [SATURATION [HUE]]] in random order (Gluon RandomColorJitter)",
    )
    g.add_argument("--grayscale", type=float, metavar="P", help="to grayscale with probability P")
    g.add_argument("--gaussian-noise", type=float, metavar="STD", help="Gaussian noise, STD levels")
    g.add_argument(
        "--trivial-augment", action="store_true", default=None, help="TrivialAugmentWide"
    )
    g.add_argument(
        "--rand-augment",
        nargs="*",
        type=int,
        metavar="N",
        help="RandAugment: [N M] N ops at magnitude bin M of 31 (default 2 9, torchvision's)",
    )
    g.add_argument(
        "--auto-augment",
        metavar="POLICY",
        help="AutoAugment with torchvision's cifar10, imagenet or svhn policy",
    )
    g.add_argument("--cutout", type=int, metavar="SIZE", help="cut out one SIZE x SIZE square")
    g.add_argument(
        "--random-erasing", type=float, metavar="P", help="random erasing with probability P"
    )
    g.add_argument("--mixup", type=float, metavar="ALPHA", help="mixup with Beta(ALPHA, ALPHA)")
    g.add_argument("--cutmix", type=float, metavar="ALPHA", help="cutmix with Beta(ALPHA, ALPHA)")


def flag(setting: str) -> str:
    """The flag of a setting: 'rotation_range' -> '--rotation-range'."""
    return "--" + FLAG_OF.get(setting, setting).replace("_", "-")


def _shift_value(flag_name: str, values: list[str]) -> Any:
    """'0.1' -> 0.1 (fraction), '2' -> 2 (whole pixels, Keras' int), '-2 0 2' -> [-2, 0, 2]."""
    parsed = []
    for v in values:
        try:
            parsed.append(int(v) if v.lstrip("+-").isdigit() else float(v))
        except ValueError:
            raise AugtrainError(f"{flag_name} {v!r} is not a number") from None
    return parsed[0] if len(parsed) == 1 else parsed


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the flags give (absent flags left out), as plain values."""
    values = {}
    for name in SETTINGS:
        v = getattr(args, FLAG_OF.get(name, name), None)
        if v is None:
            continue
        if name in ("width_shift_range", "height_shift_range"):
            v = _shift_value(flag(name), v)
        values[name] = v
    return values


def augment_from_args(args: argparse.Namespace) -> str | list[dict[str, Any]] | None:
    """The `augment` config value the flags ask for, or None to keep the default.

    Only --augment: the preset name. Keras-named flags: the op list, after the
    preset's ops when --augment is given too.
    """
    return augment_config(getattr(args, "augment", None), settings_from_args(args), flag)
