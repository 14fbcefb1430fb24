"""CLI flags for augmentation: a preset name (`--augment crop-flip`) or Keras-named flags.

    --augment keras-basic
    --rotation-range 10 --width-shift-range 0.1 --height-shift-range 0.1 --horizontal-flip
    --augment crop-flip --cutout 16 --mixup 0.2

Keras-named flags build an op list (recorded in config.json as `Compose.config()`):
geometry (one RandomAffine), colour, noise, erasing, then label mixing. When
--augment is given too, its ops come first; without it the flags alone make the
pipeline, as an ImageDataGenerator with just those arguments would.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import AugtrainError
from . import functional as F
from . import ops
from .presets import PRESETS


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
        "--brightness-range", nargs="+", type=float, metavar="B", help="multiply by U(LOWER, UPPER)"
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


FLAG_NAMES = (
    "random_resized_crop",
    "rotation_range",
    "width_shift_range",
    "height_shift_range",
    "shear_range",
    "zoom_range",
    "horizontal_flip",
    "vertical_flip",
    "fill_mode",
    "cval",
    "warp_interpolation",
    "brightness_range",
    "channel_shift_range",
    "color_jitter",
    "grayscale",
    "gaussian_noise",
    "trivial_augment",
    "rand_augment",
    "auto_augment",
    "cutout",
    "random_erasing",
    "mixup",
    "cutmix",
)


def _shift_value(flag: str, values: list[str]) -> Any:
    """'0.1' -> 0.1 (fraction), '2' -> 2 (whole pixels, Keras' int), '-2 0 2' -> [-2, 0, 2]."""
    parsed = []
    for v in values:
        try:
            parsed.append(int(v) if v.lstrip("+-").isdigit() else float(v))
        except ValueError:
            raise AugtrainError(f"{flag} {v!r} is not a number") from None
    value = parsed[0] if len(parsed) == 1 else parsed
    if not isinstance(value, list) and value < 0:
        raise AugtrainError(f"{flag} {value} must be >= 0")
    return value


def _rename(e: AugtrainError, flag: str) -> AugtrainError:
    return AugtrainError(f"{flag}: {e}")


def ops_from_args(args: argparse.Namespace) -> list[ops.Op]:
    """The ops the Keras-named flags ask for (empty when none is given)."""
    get = lambda name: getattr(args, name, None)  # noqa: E731
    out: list[ops.Op] = []
    geo: dict[str, Any] = {}
    if get("random_resized_crop") is not None:
        low = get("random_resized_crop")
        if not 0 < low <= 1:
            raise AugtrainError(f"--random-resized-crop {low}: SCALE_MIN must lie in (0, 1]")
        out.append(ops.RandomResizedCrop(scale=(low, 1.0)))
    if get("rotation_range") is not None:
        if get("rotation_range") < 0:
            raise AugtrainError(f"--rotation-range {get('rotation_range')} must be >= 0")
        geo["rotation_range"] = get("rotation_range")
    for name in ("width_shift_range", "height_shift_range"):
        if get(name) is not None:
            geo[name] = _shift_value("--" + name.replace("_", "-"), get(name))
    if get("shear_range") is not None:
        if get("shear_range") < 0:
            raise AugtrainError(f"--shear-range {get('shear_range')} must be >= 0")
        geo["shear_range"] = get("shear_range")
    if get("zoom_range") is not None:
        z = get("zoom_range")
        if len(z) > 2:
            raise AugtrainError(f"--zoom-range takes one value or a pair LOWER UPPER, got {len(z)}")
        zr = z[0] if len(z) == 1 else z
        try:
            ops.check_zoom("zoom_range", zr)
        except AugtrainError as e:
            raise AugtrainError(f"--zoom-range {' '.join(map(str, z))}: {e}") from None
        geo["zoom_range"] = zr
    if get("fill_mode") is not None:
        if get("fill_mode") not in F.FILL_MODES:
            raise AugtrainError(
                f"--fill-mode {get('fill_mode')!r} is not one of constant, nearest, reflect, wrap"
            )
        geo["fill_mode"] = get("fill_mode")
    if get("cval") is not None:
        geo["cval"] = get("cval")
    if get("warp_interpolation") is not None:
        if get("warp_interpolation") not in ("bilinear", "nearest"):
            raise AugtrainError(
                f"--warp-interpolation {get('warp_interpolation')!r} is not bilinear or nearest"
            )
        geo["interpolation"] = get("warp_interpolation")
    moving = {
        "rotation_range",
        "width_shift_range",
        "height_shift_range",
        "shear_range",
        "zoom_range",
    }
    if moving & geo.keys() and any(geo.get(k) not in (0, 0.0, [0]) for k in moving & geo.keys()):
        out.append(
            ops.RandomAffine(
                **geo,
                horizontal_flip=bool(get("horizontal_flip")),
                vertical_flip=bool(get("vertical_flip")),
            )
        )
    else:
        if get("horizontal_flip"):
            out.append(ops.RandomHorizontalFlip())
        if get("vertical_flip"):
            out.append(ops.RandomVerticalFlip())
    if get("brightness_range") is not None:
        b = get("brightness_range")
        if len(b) != 2:
            raise AugtrainError(
                f"--brightness-range takes a pair LOWER UPPER, got {' '.join(map(str, b))}"
            )
        if b[0] < 0 or b[0] > b[1]:
            raise AugtrainError(f"--brightness-range {b[0]} {b[1]}: need 0 <= LOWER <= UPPER")
        out.append(ops.BrightnessRange(b))
    if get("channel_shift_range") is not None:
        if get("channel_shift_range") < 0:
            raise AugtrainError(f"--channel-shift-range {get('channel_shift_range')} must be >= 0")
        if get("channel_shift_range") > 0:
            out.append(ops.ChannelShift(get("channel_shift_range")))

    def add(flag: str, cls: type[ops.Op], *values: Any) -> None:
        """Append cls(*values); an error in its parameters names the flag."""
        try:
            out.append(cls(*values))
        except AugtrainError as e:
            raise _rename(e, "--" + flag.replace("_", "-")) from None

    if get("color_jitter") is not None:
        cj = get("color_jitter")
        if len(cj) > 4 or any(v < 0 for v in cj):
            raise AugtrainError(
                "--color-jitter takes up to four values >= 0: BRIGHTNESS CONTRAST SATURATION HUE"
            )
        add("color_jitter", ops.ColorJitter, *cj)
    for flag, cls in (("grayscale", ops.RandomGrayscale), ("gaussian_noise", ops.GaussianNoise)):
        if get(flag) is not None:
            add(flag, cls, get(flag))
    if get("trivial_augment"):
        out.append(ops.TrivialAugmentWide())
    if get("rand_augment") is not None:
        nm = get("rand_augment")
        if len(nm) not in (0, 2):
            raise AugtrainError(
                f"--rand-augment takes no values or two, N M, got {' '.join(map(str, nm))}"
            )
        add("rand_augment", ops.RandAugment, *nm)
    if get("auto_augment") is not None:
        add("auto_augment", ops.AutoAugment, get("auto_augment"))
    for flag, cls in (
        ("cutout", ops.Cutout),
        ("random_erasing", ops.RandomErasing),
        ("mixup", ops.MixUp),
        ("cutmix", ops.CutMix),
    ):
        if get(flag) is not None:
            add(flag, cls, get(flag))
    return out


def augment_from_args(args: argparse.Namespace) -> str | list[dict[str, Any]] | None:
    """The `augment` config value the flags ask for, or None to keep the default.

    Only --augment: the preset name. Keras-named flags: the op list, after the
    preset's ops when --augment is given too.
    """
    name = getattr(args, "augment", None)
    if name is not None and name not in PRESETS:
        raise AugtrainError(f"unknown --augment preset {name!r}; choose from {', '.join(PRESETS)}")
    given = [
        n
        for n in FLAG_NAMES
        if getattr(args, n, None) is not None and getattr(args, n) is not False
    ]
    if not given:
        return name
    extra = ops_from_args(args)
    base = PRESETS[name]() if name is not None else []
    return [op.config() for op in [*base, *extra]]
