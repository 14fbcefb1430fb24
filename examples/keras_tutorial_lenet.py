"""The Keras CIFAR-10 tutorial, LeNet-5 with batch norm and real-time augmentation, on augtrain.

The tutorial's Keras code becomes this by changing the imports and the model:
ImageDataGenerator(rotation_range=10, width_shift_range=0.1, height_shift_range=0.1),
`fit(model, datagen.flow(x_train, y_train, batch_size=...), steps_per_epoch=...,
epochs=80, validation_data=(x_test, y_test), callbacks=[checkpoint])`, one-hot labels,
Adam. The model is augtrain's PyTorch `lenet5` (it returns logits; the loss is the
categorical cross-entropy Keras' compile would use).

    python examples/keras_tutorial_lenet.py                                  # CIFAR-10, 80 epochs
    python examples/keras_tutorial_lenet.py --data ../shared/data/cifar10-jpeg --epochs 2
    python examples/keras_tutorial_lenet.py --no-augment                     # the baseline
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from augtrain.data import load_data
from augtrain.errors import AugtrainError
from augtrain.keras import ImageDataGenerator, evaluate, fit
from augtrain.models import create_model
from augtrain.training.callbacks import ModelCheckpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="cifar10", help="cifar10, a tarball, or a folder tree")
    ap.add_argument("--epochs", type=int, default=80)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--no-augment", action="store_true", help="train without augmentation")
    ap.add_argument("--checkpoint", default="lenet5-best.pt", help="best val_loss weights")
    args = ap.parse_args()
    try:
        data = load_data(args.data)
    except AugtrainError as e:
        sys.exit(f"error: {e}")
    test = data.test if data.test is not None else data.val
    if test is None:
        sys.exit("error: the data has no test (or validation) split to validate on")

    # As in the tutorial: pixels scaled to [0, 1], labels one-hot.
    num_classes = len(data.classes)
    x_train = data.train.x.astype("float32") / 255.0
    x_test = test.x.astype("float32") / 255.0
    y_train = np.eye(num_classes, dtype="float32")[data.train.y]
    y_test = np.eye(num_classes, dtype="float32")[test.y]

    model = create_model("lenet5", num_classes=num_classes, input_size=x_train.shape[1:3])
    if args.no_augment:
        datagen = ImageDataGenerator()
    else:
        datagen = ImageDataGenerator(
            rotation_range=10, width_shift_range=0.1, height_shift_range=0.1
        )
    checkpoint = ModelCheckpoint(
        args.checkpoint, monitor="val_loss", save_best_only=True, save_weights_only=True, verbose=1
    )
    start = time.perf_counter()
    history = fit(
        model,
        datagen.flow(x_train, y_train, batch_size=args.batch_size),
        steps_per_epoch=len(x_train) // args.batch_size,
        epochs=args.epochs,
        validation_data=(x_test, y_test),
        callbacks=[checkpoint],
        optimizer="adam",
    )
    minutes = (time.perf_counter() - start) / 60
    loss, accuracy = evaluate(model, x_test, y_test, verbose=0)
    best = max(history.history["val_accuracy"])
    print(
        f"test accuracy {accuracy:.4f} (loss {loss:.4f}), best epoch {best:.4f}, "
        f"{args.epochs} epochs in {minutes:.1f} min, augmentation {'off' if args.no_augment else 'on'}"
    )


if __name__ == "__main__":
    main()
