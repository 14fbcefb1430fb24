"""Multi-label classification (report/multilabel.py): CSV cells of several labels (fastai's
label_delim), multi-hot targets, sigmoid + binary cross-entropy, --threshold, micro/macro
F1 and mAP in metrics.json, evaluate, predict and the report."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import augtrain
from augtrain.cli import main
from augtrain.data import load_data
from augtrain.errors import AugtrainError
from augtrain.report import multilabel
from augtrain.report.metrics import average_precision, mean_average_precision, multilabel_scores

LABELS = ("cloud", "road", "water")


# ------------------------------------------------------------------------------ figures
def test_f1_and_average_precision_agree_with_scikit_learn():
    from sklearn.metrics import average_precision_score, f1_score

    rng = np.random.default_rng(0)
    truth = rng.random((40, 4)) < 0.4
    scores = np.clip(truth * 0.5 + rng.random((40, 4)) * 0.7, 0, 1)
    predicted = scores > 0.5
    got = multilabel_scores(predicted, truth)
    for avg in ("micro", "macro"):
        want = f1_score(truth, predicted, average=avg, zero_division=0)
        assert got[avg]["f1"] == pytest.approx(want)
    ap = average_precision(scores, truth)
    want = [average_precision_score(truth[:, k], scores[:, k]) for k in range(4)]
    np.testing.assert_allclose(ap, want)
    assert mean_average_precision(scores, truth) == pytest.approx(np.mean(want))
    # a label no image has cannot be ranked: left out of the mean, reported as n/a
    truth[:, 2] = False
    ap = average_precision(scores, truth)
    assert np.isnan(ap[2])
    assert mean_average_precision(scores, truth) == pytest.approx(np.mean(ap[[0, 1, 3]]))


def test_loss_and_exact_match_count():
    logits = torch.tensor([[2.0, -1.0, 0.5], [-3.0, 1.0, -0.2]])
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    loss = multilabel.criterion()(logits, targets)
    assert loss == pytest.approx(float(F.binary_cross_entropy_with_logits(logits, targets)))
    smooth = multilabel.criterion(0.2)(logits, targets)
    want = F.binary_cross_entropy_with_logits(logits, targets * 0.8 + 0.1)
    assert smooth == pytest.approx(float(want))
    # row 0 all right; row 1 misses its third label at 0.5, has it at threshold 0.4
    assert int(multilabel.correct(logits, targets)) == 1
    assert int(multilabel.correct(logits, targets, threshold=0.4)) == 2
    assert float(multilabel.loss_sum(logits, targets)) == pytest.approx(float(loss) * 2)


# --------------------------------------------------------------------------------- data
def write_multi_csv(root, n=36, delim=" ", size=12):
    """images whose labels show as bright bands (one per label), and a CSV of them."""
    rng = np.random.default_rng(1)
    (root / "images").mkdir(parents=True)
    rows = [["image", "tags"]]
    truth = []
    for i in range(n):
        labels = [k for k in range(3) if rng.random() < 0.5] or [i % 3]
        img = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
        for k in labels:
            img[k * 4 : k * 4 + 3, :, k] = 255
        Image.fromarray(img).save(root / "images" / f"{i:03d}.png")
        rows.append([f"images/{i:03d}.png", delim.join(LABELS[k] for k in labels)])
        truth.append(labels)
    with open(root / "tags.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return root / "tags.csv", truth


def test_csv_cells_of_several_labels_give_multi_hot_rows(tmp_path):
    path, truth = write_multi_csv(tmp_path)
    data = load_data(labels=str(path), validation_split=0.25)
    assert data.multi_label and data.classes == list(LABELS)
    assert data.train.y.dtype == np.float32 and data.train.y.shape == (27, 3)
    assert len(data.val) == 9  # the first quarter of the rows
    want = np.zeros((36, 3), np.float32)
    for i, labels in enumerate(truth):
        want[i, labels] = 1
    np.testing.assert_array_equal(data.val.y, want[:9])
    np.testing.assert_array_equal(data.train.y, want[9:])
    assert data.source["label_mode"] == "multi"
    # another delimiter; and '' reads each cell whole (then 'cloud road' is one class)
    semi, _ = write_multi_csv(tmp_path / "semi", delim=";")
    np.testing.assert_array_equal(load_data(labels=str(semi), label_delim=";").train.y, want)
    whole = load_data(labels=str(path), label_delim="")
    assert not whole.multi_label and any(" " in c for c in whole.classes)


def test_single_label_csv_stays_single_unless_asked(tmp_path):
    (tmp_path / "images").mkdir()
    rows = [["f", "l"]]
    for i in range(6):
        Image.fromarray(np.full((8, 8, 3), i * 30, np.uint8)).save(tmp_path / f"images/{i}.png")
        rows.append([f"images/{i}.png", LABELS[i % 2]])
    with open(tmp_path / "l.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    single = load_data(labels=str(tmp_path / "l.csv"))
    assert not single.multi_label and single.train.y.tolist() == [0, 1, 0, 1, 0, 1]
    forced = load_data(labels=str(tmp_path / "l.csv"), multi_label=True)
    assert forced.multi_label
    np.testing.assert_array_equal(forced.train.y, np.eye(2, dtype=np.float32)[[0, 1] * 3])


# ----------------------------------------------------------------------- the whole run
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi")
    path, truth = write_multi_csv(root)
    args = ["train", "--labels", str(path), "--validation-split", "0.25", "--model", "cnn4"]
    args += ["--epochs", "3", "--batch-size", "9", "--lr", "3e-3", "--augment", "none"]
    args += ["--runs-dir", str(root / "runs"), "--name", "m", "--verbose", "0"]
    args += ["--cache-dir", str(root / "cache")]
    assert main(args) == 0
    return root, root / "runs" / "m"


def test_training_is_multi_label_with_its_figures_in_metrics_json(run):
    root, path = run
    config = json.loads((path / "config.json").read_text())
    assert config["config"]["label_mode"] == "multi"  # chosen by the CSV's rows
    assert config["model"]["num_classes"] == 3 and config["config"]["threshold"] == 0.5
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["label_mode"] == "multi" and metrics["split"] == "val"
    for key in ("loss", "accuracy", "hamming_accuracy", "micro_f1", "macro_f1", "mAP"):
        assert 0.0 <= metrics[key] <= (10.0 if key == "loss" else 1.0), key
    assert [r["class"] for r in metrics["per_class"]] == list(LABELS)
    assert all("average_precision" in r and "support" in r for r in metrics["per_class"])
    assert "confusion_matrix" not in metrics
    assert not list(path.glob("confusion_matrix*"))  # one label per image only
    assert (path / "learning_curves.png").exists()
    history = list(csv.DictReader((path / "history.csv").open()))
    assert float(history[-1]["loss"]) < float(history[0]["loss"])
    # the figures from the saved model and the run's own validation images
    from augtrain.report.metrics import predict_logits
    from augtrain.training.checkpoint import load_model

    model, _ = load_model(path)
    data = load_data(labels=str(root / "tags.csv"), validation_split=0.25)
    logits = predict_logits(model, data.val.x)
    want = multilabel.multilabel_metrics(logits, data.val.y, list(LABELS), 0.5)
    assert metrics["mAP"] == pytest.approx(want["mAP"])
    assert metrics["micro_f1"] == pytest.approx(want["micro_f1"])
    # the last epoch's validation accuracy is the exact-match rate of the same model
    assert float(history[-1]["val_accuracy"]) == pytest.approx(want["accuracy"])


def test_evaluate_lists_every_label_above_the_threshold(run, capsys):
    root, path = run
    capsys.readouterr()
    assert main(["evaluate", str(path), "--out-dir", str(root / "ev")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("val: loss") and "mAP" in out and "micro F1" in out
    evaluation = json.loads((root / "ev" / "evaluation.json").read_text())
    metrics = json.loads((path / "metrics.json").read_text())
    assert evaluation["mAP"] == pytest.approx(metrics["mAP"])
    rows = list(csv.DictReader((root / "ev" / "predictions.csv").open()))
    assert len(rows) == 9 and rows[0]["file"] == "images/000.png"
    from augtrain.training.evaluate import evaluate_run

    ev = evaluate_run(path, device="cpu")
    for row, probs, truth in zip(rows, ev.probs, ev.labels):
        above = [LABELS[k] for k in np.argsort(-probs, kind="stable") if probs[k] > 0.5]
        assert row["predicted"].split() == above
        assert [float(p) for p in row["probabilities"].split()] == pytest.approx(
            sorted(probs[probs > 0.5], reverse=True), abs=1e-6
        )
        assert row["true"].split() == [LABELS[k] for k in range(3) if truth[k]]
        assert int(row["correct"]) == int(set(above) == set(row["true"].split()))
    assert (root / "ev" / "wrong_predictions.png").is_file()
    assert ev.run == path and ev.metrics["checkpoint"] == "last.pt"
    # from the checkpoint file itself: no run folder, the file named as the checkpoint
    ckpt_file = path / "last.pt"
    by_file = evaluate_run(ckpt_file, device="cpu")
    assert by_file.run is None and by_file.metrics["checkpoint"] == str(ckpt_file)
    assert by_file.metrics["mAP"] == pytest.approx(ev.metrics["mAP"])


def test_predict_lists_labels_above_the_threshold(run, capsys):
    root, path = run
    from augtrain.training.checkpoint import load_model

    files = [root / "images" / f"{i:03d}.png" for i in (0, 1, 2)]
    model, _ = load_model(path)
    from augtrain.data import load_image
    from augtrain.report.metrics import predict_logits

    x = np.stack([load_image(f) for f in files])
    probs = torch.sigmoid(predict_logits(model, x)).numpy()
    capsys.readouterr()
    assert main(["predict", str(path), *map(str, files), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    for row, p in zip(rows, probs):
        assert [t["class"] for t in row["labels"]] == [
            LABELS[k] for k in np.argsort(-p, kind="stable") if p[k] > 0.5
        ]
    # a low threshold lists every label, in order of probability
    assert (
        main(["predict", str(path), str(files[0]), "--format", "csv", "--threshold", "1e-9"]) == 0
    )
    got = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert got[0]["labels"].split() == [LABELS[k] for k in np.argsort(-probs[0], kind="stable")]
    assert main(["predict", str(path), str(files[0]), "--threshold", "2"]) == 2
    # the Python API gives each label's sigmoid
    api = augtrain.load_run(path).predict(files, device="cpu")
    np.testing.assert_allclose(np.stack([r["probs"] for r in api]), probs, atol=1e-5)


def test_report_has_the_multi_label_section(run, tmp_path):
    root, path = run
    assert main(["report", str(path), "--out", str(tmp_path / "r.html")]) == 0
    text = (tmp_path / "r.html").read_text()
    assert "Per-label results" in text and "mAP" in text and "macro F1" in text
    assert "Confusion matrix" not in text


def test_bad_settings_are_one_line(tmp_path, capsys):
    path, _ = write_multi_csv(tmp_path, n=9)
    base = ["train", "--labels", str(path), "--epochs", "1", "--runs-dir", str(tmp_path / "r")]
    assert main([*base, "--label-mode", "binary"]) == 2
    assert "--label-mode binary takes one label per image" in capsys.readouterr().err
    assert main([*base, "--threshold", "1.5"]) == 2
    err = capsys.readouterr().err
    assert "--threshold 1.5: must be a number > 0 and < 1" in err and len(err.splitlines()) == 1
    with pytest.raises(AugtrainError, match="--label-delim must be"):
        augtrain.train(labels=str(path), label_delim=3, verbose=0)


def test_augmentation_preview_of_multi_label_data(run):
    """No one class per image: the preview takes the first images, unlabelled."""
    from augtrain.report import grids
    from augtrain.report.html import augmentation_section
    from augtrain.training.checkpoint import load_model

    root, path = run
    _, ckpt = load_model(path)
    ckpt = {**ckpt, "config": {**ckpt["config"], "augment": "crop-flip"}}
    data = load_data(labels=str(root / "tags.csv"))
    assert grids.class_spread_indices(data.train.y, 4).tolist() == [0, 1, 2, 3]
    from augtrain.training.config import TrainConfig
    from augtrain.training.resolved import make_pipeline

    pipeline = make_pipeline(TrainConfig.from_dict(ckpt["config"]))
    section = augmentation_section(pipeline, data, list(ckpt["classes"]), rows=3, epochs=2)
    assert "data:image/png;base64," in section


def test_final_metrics_name_the_weights_they_come_from(capsys):
    from types import SimpleNamespace

    logits = torch.tensor([[3.0, -3.0, 1.0], [-2.0, 2.0, -1.0]])
    targets = np.array([[1, 0, 1], [0, 1, 0]], np.float32)
    config = SimpleNamespace(threshold=0.5, use_ema=True, verbose=1)
    m = multilabel.final_metrics(logits, "val", targets, list(LABELS), config, with_ema=True)
    assert list(m)[:2] == ["split", "checkpoint"] and m["split"] == "val"
    assert m["accuracy"] == 1.0 and m["weights"] == "ema"
    assert capsys.readouterr().out.startswith("val: loss ")
    config.use_ema, config.verbose = False, 0
    m = multilabel.final_metrics(logits, "test", targets, list(LABELS), config, with_ema=True)
    assert m["weights"] == "trained" and capsys.readouterr().out == ""
    assert "weights" not in multilabel.final_metrics(
        logits, "test", targets, list(LABELS), config, with_ema=False
    )


# ------------------------------------------------------------------------------- TTA
def test_tta_averages_each_labels_sigmoid_over_the_views():
    """logit(mean sigmoid): sigmoid of the result is the views' mean probability, also
    where a probability rounds to 0 or 1 in float32 (no inf, no NaN)."""
    from augtrain.report.inference import mean_sigmoid_logit

    z = torch.tensor([[[40.0, -60.0, 0.3]], [[39.0, -45.0, -1.2]], [[35.0, -50.0, 0.0]]])
    got = mean_sigmoid_logit(z)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(torch.sigmoid(got), torch.sigmoid(z).mean(0))
    # the middle label: logit of the mean, not the mean logit
    mean_p = float(torch.sigmoid(z[:, 0, 2]).mean())
    assert float(got[0, 2]) == pytest.approx(np.log(mean_p / (1 - mean_p)), abs=1e-5)
    assert float(got[0, 2]) != pytest.approx(float(z[:, 0, 2].mean()), abs=1e-3)
    # sigmoid rounds all three views of the first label to 1.0 in float32 (its naive logit
    # is inf); averaged in log space it keeps its size (float64 reference)
    assert float(torch.sigmoid(z[:, 0, 0]).min()) == 1.0
    z0 = z[:, 0, 0].double()
    want = torch.sigmoid(z0).mean().log() - torch.sigmoid(-z0).mean().log()
    assert float(got[0, 0]) == pytest.approx(float(want), rel=1e-5)


def test_predict_tta_of_a_multi_label_model_is_the_mean_probability_of_image_and_mirror():
    from augtrain.models.classifier import Classifier
    from augtrain.report.tta import predict_tta

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 6 * 5, 4))
    model = Classifier(net, [0.5] * 3, [0.25] * 3, label_mode="multi").eval()
    x = np.random.default_rng(0).integers(0, 256, (5, 6, 5, 3), dtype=np.uint8)
    nchw = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255  # as the model is fed
    with torch.no_grad():
        plain, mirror = model(nchw), model(nchw.flip(3))
    got = predict_tta(model, x, mode="flip")
    want = (torch.sigmoid(plain) + torch.sigmoid(mirror)) / 2
    torch.testing.assert_close(torch.sigmoid(got), want, atol=1e-6, rtol=1e-5)
    # 'none' stays the raw logits; a softmax average would not give these probabilities
    torch.testing.assert_close(predict_tta(model, x, mode="none"), plain)
    softmax_mean = (torch.softmax(plain, 1) + torch.softmax(mirror, 1)) / 2
    assert not torch.allclose(torch.sigmoid(got), softmax_mean, atol=1e-3)


def test_evaluate_with_tta_on_a_multi_label_run(run, capsys):
    """`augtrain evaluate --tta`, Run.evaluate(tta=) and their figures: those of the mean
    sigmoid over the views, written beside the run's own evaluation."""
    from augtrain.report.tta import predict_tta
    from augtrain.training.checkpoint import load_model

    root, path = run
    capsys.readouterr()
    assert main(["evaluate", str(path), "--tta", "flip-translate"]) == 0
    out = capsys.readouterr().out
    assert "TTA flip-translate" in out and "mAP" in out
    folder = path / "eval-last-flip-translate"
    evaluation = json.loads((folder / "evaluation.json").read_text())
    assert evaluation["tta"] == "flip-translate" and evaluation["tta_views"] == 6
    assert (folder / "predictions.csv").is_file()
    model, _ = load_model(path)
    data = load_data(labels=str(root / "tags.csv"), validation_split=0.25)
    logits = predict_tta(model, data.val.x, mode="flip-translate")
    want = multilabel.multilabel_metrics(logits, data.val.y, list(LABELS), 0.5)
    for key in ("mAP", "micro_f1", "macro_f1", "loss", "accuracy"):
        assert evaluation[key] == pytest.approx(want[key]), key
    api = augtrain.load_run(path).evaluate(tta="flip", device="cpu")
    flip = multilabel.multilabel_metrics(
        predict_tta(model, data.val.x, mode="flip"), data.val.y, list(LABELS), 0.5
    )
    assert api["tta"] == "flip" and api["loss"] == pytest.approx(flip["loss"])
    assert api["loss"] != pytest.approx(json.loads((path / "metrics.json").read_text())["loss"])


def test_training_with_tta_on_multi_label_data(tmp_path, capsys):
    """--tta (the speed presets' flip-translate too) on multi-label rows: metrics.json has
    the TTA figures with the plain ones beside them, as `evaluate --tta` computes them."""
    path, _ = write_multi_csv(tmp_path, n=12)
    args = ["train", "--labels", str(path), "--validation-split", "0.5", "--epochs", "1"]
    args += ["--batch-size", "6", "--augment", "none", "--tta", "flip", "--name", "t"]
    args += ["--runs-dir", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c")]
    assert main(args) == 0
    assert "TTA flip" in capsys.readouterr().out
    folder = tmp_path / "r" / "t"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["label_mode"] == "multi" and metrics["tta"] == "flip"
    assert 0.0 <= metrics["accuracy_without_tta"] <= 1.0 and "mAP_without_tta" in metrics
    from augtrain.training.evaluate import evaluate_run

    again = evaluate_run(folder, device="cpu")  # the run's own TTA by default
    assert again.tta == "flip"
    assert again.metrics["loss"] == pytest.approx(metrics["loss"])
    assert again.metrics["mAP"] == pytest.approx(metrics["mAP"])
    plain = evaluate_run(folder, tta="none", device="cpu")
    assert plain.metrics["accuracy"] == pytest.approx(metrics["accuracy_without_tta"])
