"""`augtrain preview`: look at what augmentation does to the training images.

Each row is one training image, labelled with its class (multi-label data: all its
labels): the source, then its augmented variants. The rows take turns over the classes
(the first image of each class, then the second, ...; multi-label data: the first
images) unless --first picks consecutive images. Variant v is
the image as training sees it in epoch E + v (numbered from 1, as training logs
"epoch 1/N") with the same --seed (the randomness is keyed by seed, epoch and sample
index), so the grid shows exactly what `augtrain train` with the same flags trains
on. `--save-to-dir` writes the augmented images as files, as Keras'
`flow(save_to_dir=...)` does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._augment_flags import add_augment_arguments, augment_from_args

EXAMPLES = """examples:
  augtrain preview --data ../shared/data/cifar10-jpeg --augment keras-basic --out preview.png
  augtrain preview --data photos/ --rotation-range 30 --zoom-range 0.2 --horizontal-flip \\
                   --images 4 --variants 6 --epoch 10 --out grid.png
  augtrain preview --data cifar10 --augment strong --save-to-dir aug/ --save-prefix aug \\
                   --save-format jpeg
  augtrain preview --labels planet/tags.csv --augment crop-flip --out tags.png
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "preview",
        help="draw training images beside their augmented variants",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("data")
    g.add_argument("--data", default="cifar10", help="as `augtrain train --data`")
    g.add_argument("--target-size", type=int, nargs=2, metavar=("H", "W"))
    g.add_argument("--color-mode", choices=["rgb", "grayscale", "rgba"], default="rgb")
    g.add_argument("--cache-dir", help="decoded-image cache")
    g.add_argument(
        "--labels",
        metavar="FILE.csv",
        help="as `augtrain train --labels`: images and their labels from a CSV",
    )
    g.add_argument("--fn-col", default="0", help="the CSV's file column (default 0)")
    g.add_argument("--label-col", default="1", help="the CSV's label column (default 1)")
    g.add_argument(
        "--label-delim",
        default=" ",
        metavar="DELIM",
        help="what separates several labels in a CSV cell (default a space); '' reads "
        "each cell whole",
    )
    g.add_argument(
        "--label-mode",
        choices=["categorical", "binary", "multi"],
        help="as `augtrain train`: multi splits CSV cells into labels, the others read "
        "each cell as one class (default: decided from the cells)",
    )
    g.add_argument(
        "--first",
        type=int,
        metavar="I",
        help="show training images I, I+1, ... (default: images taken in turn from each class)",
    )
    add_augment_arguments(p)
    g = p.add_argument_group("preview")
    g.add_argument("--images", type=int, default=8, help="source images, one per row (default 8)")
    g.add_argument(
        "--variants", type=int, default=8, help="augmented variants per image (default 8)"
    )
    g.add_argument(
        "--epoch",
        type=int,
        default=1,
        help="epoch of the first variant, numbered as training logs it (default 1)",
    )
    g.add_argument("--seed", type=int, default=0, help="the training seed (default 0)")
    g.add_argument(
        "--scale", type=int, default=0, help="upscale factor of the grid (default: auto)"
    )
    g.add_argument("--out", help="grid PNG (default preview.png unless --save-to-dir is given)")
    g.add_argument("--save-to-dir", metavar="DIR", help="also write each augmented image here")
    g.add_argument("--save-prefix", default="", help="file name prefix (Keras save_prefix)")
    g.add_argument("--save-format", choices=["png", "jpeg"], default="png")
    p.set_defaults(func=run)


def augmented_variants(
    images: Any,
    labels: Any,
    pipeline: Any,
    first_index: Any,
    epoch: int,
    variants: int,
    classes: int,
) -> list[Any]:
    """[(B, C, H, W) tensor for pipeline epoch `epoch` + v (0-based, as the Trainer calls
    it)] for v in range(variants) (`augment.preview.augmented_variants`). `first_index`:
    the images' dataset indices, or the first of consecutive ones."""
    from ..augment.preview import augmented_variants as variants_of

    epochs = range(epoch, epoch + variants)
    return variants_of(images, first_index, pipeline, epochs, labels, classes)


def to_display(x: Any) -> Any:
    """A batch as uint8 RGB NHWC NumPy (`augment.preview.to_display`, grey made RGB)."""
    from ..augment.preview import to_display as display

    return to_display_sources(display(x))


def label_font(size: int = 13) -> Any:
    """PIL's scalable default font at `size` px (Pillow >= 10.1), else its small bitmap one."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # older Pillow: no size
        return ImageFont.load_default()


def draw_grid(
    sources: Any,
    variants: list[Any],
    epoch: int,
    scale: int,
    row_labels: list[str] | None = None,
) -> Any:
    """PIL image: a header row ('source', 'epoch E', 'epoch E+1', ...; E as training
    numbers epochs, from 1), then per image its label, the source and its variants."""
    import numpy as np
    from PIL import Image, ImageDraw

    font = label_font()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    n, h, w, _ = sources.shape
    vh, vw = variants[0].shape[1:3] if variants else (h, w)
    ch, cw = max(h, vh) * scale, max(w, vw) * scale
    gap, head = 4, 20
    labels = [str(label) for label in row_labels] if row_labels else []
    left = max((int(measure.textlength(t, font=font)) for t in labels), default=0)
    left = left + 2 * gap if labels else 0
    headers = ["source"] + [f"epoch {epoch + v}" for v in range(len(variants))]
    cw = max(cw, *(int(measure.textlength(t, font=font)) + 2 for t in headers))
    cols = 1 + len(variants)
    canvas = np.full(
        (head + n * (ch + gap) + gap, left + cols * (cw + gap) + gap, 3), 255, np.uint8
    )
    for i in range(n):
        tiles = [sources[i]] + [v[i] for v in variants]
        for j, tile in enumerate(tiles):
            big = tile.repeat(scale, 0).repeat(scale, 1)
            y = head + gap + i * (ch + gap)
            x = left + gap + j * (cw + gap)
            canvas[y : y + big.shape[0], x : x + big.shape[1]] = big
    img = Image.fromarray(canvas)
    d = ImageDraw.Draw(img)
    for j, text in enumerate(headers):
        d.text((left + gap + j * (cw + gap), 3), text, fill=(0, 0, 0), font=font)
    for i, text in enumerate(labels):
        y = head + gap + i * (ch + gap) + ch // 2
        d.text((gap, y), text, fill=(0, 0, 0), font=font, anchor="lm")
    return img


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from ..augment import build_pipeline, preset
    from ..augment.random import hash_ints
    from ..data import load_data
    from ..errors import AugtrainError
    from ..io import atomic_path, make_folder
    from ..report.grids import class_spread_indices, label_caption
    from ..report.multilabel import reading_note
    from ..training.config import column
    from .train import check_finite

    check_finite(args)  # a NaN augmentation flag previews (and trains on) black images

    for name in ("images", "variants"):
        if getattr(args, name) < 1:
            raise AugtrainError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.epoch < 1:
        raise AugtrainError(f"--epoch must be >= 1 (epochs are numbered from 1), got {args.epoch}")
    if args.first is not None and args.first < 0:
        raise AugtrainError(f"--first must be >= 0, got {args.first}")
    augment = augment_from_args(args)
    if augment is None:
        augment = "crop-flip"
    pipeline = (
        preset(augment, seed=args.seed)
        if isinstance(augment, str)
        else build_pipeline(augment, seed=args.seed)
    )
    data = load_data(
        args.data,
        target_size=tuple(args.target_size) if args.target_size else None,
        color_mode=args.color_mode,
        cache=args.cache_dir,
        labels=args.labels,
        fn_col=column(args.fn_col),
        label_col=column(args.label_col),
        label_delim=args.label_delim,
        multi_label=None if args.label_mode is None else args.label_mode == "multi",
    )
    note = reading_note(data, args.label_delim)
    if note:
        print(note, file=sys.stderr, flush=True)
    train = data.train
    if args.first is None:
        index = class_spread_indices(train.y, args.images)
    elif args.first >= len(train):
        raise AugtrainError(f"--first {args.first}: the training split has {len(train)} images")
    else:
        index = np.arange(args.first, min(len(train), args.first + args.images))
    x, y = train.x[index], train.y[index]
    epoch = args.epoch - 1  # the Trainer's 0-based epoch, which keys the randomness
    out = augmented_variants(x, y, pipeline, index, epoch, args.variants, data.num_classes)
    shown = [to_display(v) for v in out]
    if args.save_to_dir:
        folder = make_folder(args.save_to_dir)
        ext = "jpg" if args.save_format == "jpeg" else "png"
        written = 0
        for v, batch in enumerate(shown):
            for k, img in enumerate(batch):
                tag = hash_ints(args.seed, epoch + v, int(index[k])) % 10**7
                name = f"{args.save_prefix}_{int(index[k])}_{tag}.{ext}"
                with atomic_path(folder / name) as tmp:
                    Image.fromarray(np.ascontiguousarray(img)).save(
                        tmp, format="JPEG" if ext == "jpg" else "PNG"
                    )
                written += 1
        print(f"wrote {written} augmented images to {folder}")
    if args.out or not args.save_to_dir:
        path = Path(args.out or "preview.png")
        h = max(x.shape[1], shown[0].shape[1])
        scale = args.scale or max(1, 96 // h)
        labels = [label_caption(c, data.classes, n=40) for c in y]  # multi-label: all
        grid = draw_grid(to_display_sources(x), shown, args.epoch, scale, labels)
        with atomic_path(path) as tmp:
            grid.save(tmp, format="PNG")
        print(f"preview: {path} ({len(x)} images x {args.variants} variants, {pipeline!r})")
    return 0


def to_display_sources(x: Any) -> Any:
    """Images (N, H, W, C uint8) as RGB for the grid."""
    if x.shape[-1] == 1:
        return x.repeat(3, axis=-1)
    return x[..., :3]
