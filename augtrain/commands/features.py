"""`augtrain features`: run every image through a trained network and save one layer's
output, flattened, as features (the feature-extraction workflow of transfer learning).

    augtrain features --from runs/cnn4-... --data photos/ --out features.npz
    augtrain train --head logistic --features features.npz     # logistic regression on them

The .npz holds x (N, D) float32 and y for the training images, x_val / y_val and
x_test / y_test for the splits the data has, classes, layer and source. --layer names a
module of the network (`augtrain summary MODEL` lists them); by default the input of the
last dense layer (the penultimate features, e.g. ResNet-18's 512 pooled channels).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

EXAMPLES = """examples:
  augtrain features --from runs/cnn4-20261123-120000 --data ../shared/data/cifar10-jpeg \\
                    --layer classifier.1 --out features.npz
  augtrain features --from resnet18-f37072fd.pth --model resnet18 --model-option stem=imagenet \\
                    --input-norm imagenet --data photos/ --target-size 224 224 --out photos.npz
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "features",
        help="extract a trained network's features of every image to .npz",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="RUN_OR_WEIGHTS",
        help="run folder, augtrain checkpoint, or state_dict file (.pth/.pt/.safetensors)",
    )
    p.add_argument(
        "--data", help="images (as `augtrain train --data`); default: the run's own data"
    )
    p.add_argument("--out", required=True, type=Path, help="the .npz to write")
    p.add_argument("--layer", help="module name (default: the input of the last dense layer)")
    p.add_argument("--target-size", type=int, nargs=2, metavar=("H", "W"))
    p.add_argument("--color-mode", choices=["rgb", "grayscale", "rgba"])
    p.add_argument("--classes", nargs="+", help="class folder names, in label order")
    p.add_argument("--validation-split", type=float, help="hold out this fraction as x_val")
    p.add_argument("--cache-dir")
    g = p.add_argument_group("for a plain state_dict file")
    g.add_argument("--model", help="the network the file belongs to")
    g.add_argument("--model-option", action="append", metavar="KEY=VALUE")
    g.add_argument(
        "--input-norm",
        choices=["imagenet", "standardize", "rescale"],
        default="standardize",
        help="imagenet for torchvision's weights; standardize: the data's mean/std (default)",
    )
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N, mps")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from ..data import load_data
    from ..device import DevicePolicy, resolve_device
    from ..errors import AugtrainError
    from ..models.pretrained import IMAGENET_MEAN, IMAGENET_STD
    from ..models.registry import parse_options
    from ..models.weights import read_weights
    from ..training.config import TrainConfig
    from ..training.features import extract_features, model_for_features, save_features
    from ..training.loop import channel_stats

    if args.out.suffix != ".npz":
        raise AugtrainError(f"--out {args.out}: the features file must end in .npz")
    device = resolve_device(args.device)  # an unusable device fails before any loading
    weights = read_weights(args.source)  # fails early, before any decoding
    config = TrainConfig.from_dict(weights.checkpoint["config"]) if weights.checkpoint else None
    if args.data is None and config is None:
        raise AugtrainError(f"{args.source}: a plain weights file needs --data")
    data_arg = args.data or config.data
    if data_arg == "<arrays>":
        raise AugtrainError(f"{args.source} was trained on in-memory arrays: pass --data")
    cache_dir = args.cache_dir or (config.cache_dir if config else None)
    data = load_data(
        data_arg,
        tuple(args.target_size) if args.target_size else (config.target_size if config else None),
        args.color_mode or (config.color_mode if config else "rgb"),
        config.interpolation if config else "bilinear",
        args.classes or (config.classes if config else None),
        args.validation_split or 0.0,
        cache_dir,
    )
    h, w, c = data.image_shape
    mean = std = None
    if weights.checkpoint is None:
        if args.input_norm == "imagenet":
            if c != 3:
                raise AugtrainError("--input-norm imagenet needs RGB images")
            mean, std = list(IMAGENET_MEAN), list(IMAGENET_STD)
        elif args.input_norm == "standardize":
            mean, std = channel_stats(data.train, cache_dir)
    model, weights = model_for_features(
        args.source, args.model, parse_options(args.model_option), None, (h, w, c), mean, std
    )
    spec = weights.checkpoint["model"] if weights.checkpoint else None
    if spec is not None and (h, w, c) != (*spec["input_size"], spec["in_channels"]):
        raise AugtrainError(
            f"images are {h}x{w}x{c} but the model takes "
            f"{spec['input_size'][0]}x{spec['input_size'][1]}x{spec['in_channels']} (use --target-size)"
        )
    policy = DevicePolicy.for_run(device, weights.checkpoint["config"] if config else None)
    arrays: dict[str, Any] = {"classes": np.array(data.classes)}
    start, label, total = time.perf_counter(), "", 0
    for split_name, split in (("", data.train), ("_val", data.val), ("_test", data.test)):
        if split is None:
            continue
        feats, label = extract_features(model, split.x, args.layer, device, args.batch_size, policy)
        arrays[f"x{split_name}"], arrays[f"y{split_name}"] = feats, split.y
        total += len(feats)
    arrays["layer"] = np.array(label)
    arrays["source"] = np.array(str(Path(args.source).resolve()))
    save_features(args.out, arrays)
    dims = arrays["x"].shape[1]
    splits = ", ".join(
        f"{k[2:] or 'train'} {len(v)}" for k, v in arrays.items() if k.startswith("x")
    )
    print(
        f"features: {label}, {dims} values per image; {splits} images "
        f"({total / max(time.perf_counter() - start, 1e-9):.0f} img/s) -> {args.out}"
    )
    return 0
