"""--label-mode binary: one sigmoid output, binary cross-entropy, binary accuracy; evaluation
and prediction give the positive class's probability."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fixtures import synthetic_images, write_image_folder

import augtrain
from augtrain.errors import AugtrainError
from augtrain.report.metrics import class_logits, predict_logits


def test_two_class_logits_are_binary_cross_entropy():
    z = torch.tensor([[-2.0], [0.5], [3.0]])
    y = torch.tensor([0, 1, 0])
    two = class_logits(z, True)
    bce = F.binary_cross_entropy_with_logits(z[:, 0], y.float())
    assert torch.allclose(F.cross_entropy(two, y), bce)
    assert torch.allclose(two.softmax(1)[:, 1], torch.sigmoid(z[:, 0]))
    # Keras' label smoothing of binary cross-entropy: y * (1 - s) + s / 2
    smooth = F.binary_cross_entropy_with_logits(z[:, 0], y.float() * 0.8 + 0.1)
    assert torch.allclose(F.cross_entropy(two, y, label_smoothing=0.2), smooth)
    assert two.argmax(1).tolist() == [0, 1, 1]  # binary_accuracy's threshold 0.5
    assert class_logits(z, False) is z


def test_binary_run_trains_evaluates_and_predicts(tmp_path):
    x, y = synthetic_images(64, 16, classes=2, seed=1)
    run = augtrain.train(
        data={
            "x": x,
            "y": y,
            "x_test": x[:24],
            "y_test": y[:24],
            "classes": ["no", "yes"],
        },
        model="cnn4",
        label_mode="binary",
        epochs=3,
        batch_size=16,
        lr=3e-3,
        runs_dir=str(tmp_path / "runs"),
        verbose=0,
    )
    net = run.model.net
    assert [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1].out_features == 1
    assert run.classes == ["no", "yes"]
    assert 0.0 <= run.history[-1]["accuracy"] <= 1.0
    assert run.history[-1]["loss"] < run.history[0]["loss"]  # it learns
    # metrics.json: binary cross-entropy and accuracy of the sigmoid at 0.5, computed by hand
    run.model.eval()
    with torch.no_grad():
        z = run.model(torch.from_numpy(x[:24]).permute(0, 3, 1, 2).float() / 255)[:, 0]
    metrics = json.loads((run.path / "metrics.json").read_text())
    bce = F.binary_cross_entropy_with_logits(z, torch.from_numpy(y[:24]).float())
    assert metrics["loss"] == pytest.approx(float(bce), rel=1e-4)
    assert metrics["accuracy"] == pytest.approx(float(((z > 0).numpy() == y[:24]).mean()))
    assert np.asarray(metrics["confusion_matrix"]).shape == (2, 2)
    # a rebuilt model from the checkpoint is binary too; its probabilities are sigmoid's
    from augtrain.training.checkpoint import load_model

    model, ckpt = load_model(run.path)
    assert ckpt["model"]["label_mode"] == "binary" and ckpt["model"]["num_classes"] == 1
    probs = predict_logits(model, x[:24]).softmax(1)
    assert torch.allclose(probs[:, 1], torch.sigmoid(z), atol=1e-5)


def test_binary_predict_command(tmp_path, capsys):
    from augtrain.cli import main

    folder = write_image_folder(tmp_path / "imgs", per_class=6, classes=("cat", "dog"), size=16)
    run = augtrain.train(
        data=str(folder),
        model="lenet5",
        label_mode="binary",
        epochs=1,
        batch_size=4,
        runs_dir=str(tmp_path / "runs"),
        verbose=0,
    )
    capsys.readouterr()
    assert main(["predict", str(run.path), str(folder / "dog" / "000.png"), "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert "dog" in out or "cat" in out
    from augtrain.report.predict import predict_files
    from augtrain.training.checkpoint import load_model

    model, _ = load_model(run.path)
    (pred,) = list(predict_files(model, [folder / "dog" / "000.png"], (16, 16), "rgb", "bilinear"))
    assert pred.probs.shape == (2,) and pred.probs.sum() == pytest.approx(1.0, abs=1e-5)


def test_binary_needs_two_classes(tmp_path):
    x, y = synthetic_images(30, 16, classes=3)
    with pytest.raises(AugtrainError, match="--label-mode binary needs 2 classes"):
        augtrain.train(
            data=(x, y), label_mode="binary", epochs=1, runs_dir=str(tmp_path / "r"), verbose=0
        )
    with pytest.raises(AugtrainError, match="--label-mode .sparse.: must be one of"):
        augtrain.train(data=(x, y), label_mode="sparse")
