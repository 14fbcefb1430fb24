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
    assert main(["report", str(path), "--tta", "flip", "--out", str(tmp_path / "t.html")]) == 0
    assert "TTA flip" in (tmp_path / "t.html").read_text()


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
    """No one class per image: the preview takes the first images, each named with all
    its labels."""
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
    assert "data:image/png;base64," in section and "their labels on the left" in section
    fig = grids.augmentation_grid(
        data.train.x[:3], np.arange(3), pipeline, 2, 3, labels=data.train.y[:3], classes=LABELS
    )
    names = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert names == [" ".join(LABELS[k] for k in range(3) if data.train.y[i, k]) for i in range(3)]


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


# ----------------------------------------------------------- interpret and the figures
def brute_force_confusion(predicted, truth, classes):
    """(missed label, wrongly predicted label, count) by walking every image."""
    counts = {}
    for p, t in zip(predicted, truth):
        for a in np.flatnonzero(t & ~p):
            for b in np.flatnonzero(p & ~t):
                counts[(classes[a], classes[b])] = counts.get((classes[a], classes[b]), 0) + 1
    return counts


def test_interpret_a_multi_label_run(run):
    """Per-image binary cross-entropy, the labels each image got wrong, per-label false
    positives / negatives, and the figures (no class-by-class confusion matrix)."""
    from sklearn.metrics import multilabel_confusion_matrix

    root, path = run
    loaded = augtrain.load_run(path)
    interp = loaded.interpret(device="cpu")
    ev = interp.evaluation
    assert interp.multi_label and isinstance(ev, multilabel.MultiLabelEvaluation)
    want = F.binary_cross_entropy_with_logits(
        ev.logits, torch.as_tensor(ev.labels), reduction="none"
    ).mean(1)
    np.testing.assert_allclose(interp.losses, want.numpy(), rtol=1e-5)
    losses = [row["loss"] for row in interp.top_losses]
    assert losses == sorted(losses, reverse=True) and len(losses) == len(ev.labels)
    probs, truth = ev.probs, ev.labels > 0.5
    for row in interp.top_losses:
        i = row["index"]
        assert row["true"] == [LABELS[k] for k in range(3) if truth[i, k]]
        assert set(row["predicted"]) == {LABELS[k] for k in range(3) if probs[i, k] > 0.5}
        assert row["probabilities"] == sorted(row["probabilities"], reverse=True)
        assert set(row["false_positives"]) == set(row["predicted"]) - set(row["true"])
        assert set(row["false_negatives"]) == set(row["true"]) - set(row["predicted"])
    predicted = probs > 0.5
    np.testing.assert_array_equal(
        interp.confusion_matrix, multilabel_confusion_matrix(truth, predicted)
    )
    by_label = {r["class"]: r for r in interp.label_errors}
    for k, name in enumerate(LABELS):
        assert by_label[name]["false_positives"] == int((predicted & ~truth)[:, k].sum())
        assert by_label[name]["false_negatives"] == int((~predicted & truth)[:, k].sum())
        assert by_label[name]["support"] == int(truth[:, k].sum())
    errors = [r["false_positives"] + r["false_negatives"] for r in interp.label_errors]
    assert errors == sorted(errors, reverse=True)
    want = brute_force_confusion(predicted, truth, list(LABELS))
    assert {(a, b): n for a, b, n in interp.most_confused} == want
    assert [r["class"] for r in interp.per_class] == list(LABELS)
    assert "exact-match accuracy" in repr(interp)
    fig = interp.plot_top_losses(4)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 4
    for title, row in zip(titles, interp.top_losses):
        assert f"loss {row['loss']:.2f}" in title
        assert title.split("\n")[1] == "true " + (" ".join(row["true"]) or "-")
    with pytest.raises(AugtrainError, match="no class-by-class confusion matrix"):
        interp.plot_confusion_matrix()
    # under TTA: the losses of the views' mean probability
    flip = loaded.interpret(tta="flip", device="cpu")
    assert flip.evaluation.tta == "flip" and not np.allclose(flip.losses, interp.losses)


def test_most_confused_of_one_label_per_image_is_the_confusion_matrix():
    """With exactly one true and one predicted label per image, the multi-label pairs
    are the off-diagonal cells of the single-label confusion matrix."""
    from augtrain.report.interpret import label_errors, one_vs_rest

    true = np.array([0, 0, 1, 2, 2, 2, 1, 0])
    pred = np.array([1, 0, 1, 0, 1, 0, 2, 1])
    logits = torch.full((8, 3), -5.0)
    logits[torch.arange(8), torch.as_tensor(pred)] = 5.0
    ev = multilabel.MultiLabelEvaluation(
        None, "last.pt", "none", "test", "own data", list(LABELS),
        np.zeros((8, 4, 4, 3), np.uint8), np.eye(3, dtype=np.float32)[true], logits, 0.5,
    )  # fmt: skip
    cm = np.zeros((3, 3), np.int64)
    np.add.at(cm, (true, pred), 1)
    want = {(LABELS[t], LABELS[p]): int(cm[t, p]) for t in range(3) for p in range(3) if t != p}
    got = multilabel.most_confused(ev)
    assert {(a, b): n for a, b, n in got} == {k: v for k, v in want.items() if v}
    assert [n for *_, n in got] == sorted((n for *_, n in got), reverse=True)
    # and the per-label tables agree with the confusion matrix's one-vs-rest ones
    np.testing.assert_array_equal(multilabel.label_confusion(ev), one_vs_rest(cm))
    rows = {r["class"]: r for r in label_errors(one_vs_rest(cm), list(LABELS))}
    assert rows["cloud"] == {
        "class": "cloud", "false_positives": 2, "false_negatives": 2, "true_positives": 1,
        "support": 3,
    }  # fmt: skip
    # the wrong grid: images with a wrong label, the surest mistake first
    order = multilabel.wrong_indices(ev, 8)
    assert set(order.tolist()) == set(np.flatnonzero(true != pred).tolist())


def test_wrong_images_are_ordered_by_their_wrong_labels():
    from augtrain.report import grids

    logits = torch.tensor(
        [
            [3.0, 3.0, -3.0],  # right
            [0.1, -3.0, -3.0],  # one wrong label, barely
            [4.0, -3.0, -3.0],  # one wrong label, sure
            [3.0, 3.0, 3.0],  # two wrong labels
        ]
    )
    labels = np.array([[1, 1, 0], [0, 0, 0], [0, 0, 0], [1, 0, 0]], np.float32)
    ev = multilabel.MultiLabelEvaluation(
        None, "last.pt", "none", "test", "", list(LABELS),
        np.zeros((4, 4, 4, 3), np.uint8), labels, logits, 0.5,
    )  # fmt: skip
    assert multilabel.wrong_indices(ev, 10).tolist() == [3, 2, 1]
    fig = multilabel.prediction_grid(ev, multilabel.wrong_indices(ev, 10), "wrong")
    titles = [ax.title for ax in fig.axes if ax.get_title()]
    assert titles[0].get_text() == "cloud road water\ntrue cloud"
    assert all(t.get_color() == grids.WRONG for t in titles)
    empty = multilabel.prediction_grid(ev, np.array([], np.int64), "wrong")
    assert any(t.get_text() == "no wrong predictions" for ax in empty.axes for t in ax.texts)


def test_show_batch_and_show_results_of_a_multi_label_run(run):
    root, path = run
    loaded = augtrain.load_run(path)
    train = loaded._dataset(None).train
    batch = loaded.show_batch(n=5, augment=False)
    captions = [ax.get_title() for ax in batch.axes if ax.get_title()]
    want = [" ".join(LABELS[k] for k in range(3) if train.y[i, k]) for i in range(5)]
    assert captions == want  # every label of the first images
    # a label-mixing pipeline mixes the multi-hot rows: each label with its share
    from augtrain.augment.settings import augment_config

    loaded.config = loaded.config.replace(augment=augment_config(None, {"mixup": 0.4}))
    mixed = loaded.show_batch(n=5)
    for ax in (ax for ax in mixed.axes if ax.get_title()):
        parts = ax.get_title().split()
        names, shares = parts[::2], [float(v) for v in parts[1::2]]
        assert set(names) <= set(LABELS) and all(0 < v <= 1 for v in shares)
        assert shares == sorted(shares, reverse=True)
    results = loaded.show_results(n=6, device="cpu")
    ev = loaded._evaluation(None, None, "last.pt", "cpu", 500)
    from augtrain.report import grids

    sample = grids.sample_indices(len(ev.labels), 6)
    titles = [ax.title for ax in results.axes if ax.get_title()]
    assert len(titles) == 6
    for t, i in zip(titles, sample):
        pred, true = t.get_text().split("\n")[:2]
        above = [LABELS[k] for k in np.argsort(-ev.probs[i], kind="stable") if ev.probs[i, k] > 0.5]
        assert pred == (" ".join(above) or "-")
        assert true == "true " + " ".join(LABELS[k] for k in range(3) if ev.labels[i, k])
        right = set(above) == set(true.split()[1:])
        assert t.get_color() == (grids.RIGHT if right else grids.WRONG)


def test_mixing_targets_keep_multi_hot_rows():
    from augtrain.augment.preview import mixing_targets

    rows = np.array([[1, 0, 1], [0, 1, 0]], np.float32)
    torch.testing.assert_close(mixing_targets(rows, 3, 2), torch.as_tensor(rows))
    torch.testing.assert_close(mixing_targets(np.array([2, 0]), 3, 2), torch.eye(3)[[2, 0]])
    assert mixing_targets(None, 3, 2).abs().sum() == 0


def test_preview_of_a_multi_label_csv_names_every_label(run, tmp_path, monkeypatch, capsys):
    from augtrain.commands import preview

    root, _ = run
    drawn = {}
    real = preview.draw_grid

    def spy(sources, variants, epoch, scale, row_labels=None):
        drawn["labels"] = row_labels
        return real(sources, variants, epoch, scale, row_labels)

    monkeypatch.setattr(preview, "draw_grid", spy)
    out = tmp_path / "p.png"
    # a label-mixing pipeline too: it gets the multi-hot rows as its targets
    args = ["preview", "--labels", str(root / "tags.csv"), "--augment", "crop-flip"]
    args += ["--mixup", "0.4", "--images", "4", "--variants", "2", "--out", str(out)]
    args += ["--cache-dir", str(root / "cache")]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "cells hold several labels split at ' '" in err
    data = load_data(labels=str(root / "tags.csv"), cache=str(root / "cache"))
    want = [" ".join(LABELS[k] for k in range(3) if data.train.y[i, k]) for i in range(4)]
    assert drawn["labels"] == want and Image.open(out).size[0] > 0


# ------------------------------------------------- which CSVs are multi-label by themselves
BREEDS = ("golden retriever", "german shepherd", "pug")


def write_breeds_csv(root, n=12):
    """A single-label CSV whose class names hold spaces (the delimiter)."""
    (root / "images").mkdir(parents=True)
    rows = [["file", "breed"]]
    for i in range(n):
        img = np.full((8, 8, 3), 40 + 60 * (i % 3), np.uint8)
        img[i % 8, :, i % 3] = 255
        Image.fromarray(img).save(root / "images" / f"{i:02d}.png")
        rows.append([f"images/{i:02d}.png", BREEDS[i % 3]])
    with open(root / "breeds.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return root / "breeds.csv"


def test_class_names_with_spaces_stay_one_class_each(tmp_path):
    """Split words that are never found apart are no labels of their own: each cell is one
    class (a fastai or Keras user's "golden retriever"), and the source says so."""
    path = write_breeds_csv(tmp_path)
    data = load_data(labels=str(path), cache=tmp_path / "c")
    assert not data.multi_label and data.classes == sorted(BREEDS)
    assert data.train.y.tolist() == [sorted(BREEDS).index(BREEDS[i % 3]) for i in range(12)]
    assert data.source["labels_read"] == "whole"
    note = multilabel.reading_note(data, " ")
    assert "'golden retriever'" in note and "--label-mode multi splits them" in note
    # asked for: split into words, each a label
    words = load_data(labels=str(path), multi_label=True, cache=tmp_path / "c")
    assert words.multi_label and "retriever" in words.classes and len(words.classes) == 5
    assert "labels_read" not in words.source  # decided by the flag, not the cells


def test_labels_that_combine_make_the_csv_multi_label(tmp_path):
    path, _ = write_multi_csv(tmp_path)
    data = load_data(labels=str(path), cache=tmp_path / "c")
    assert data.multi_label and data.source["labels_read"] == "multi"
    note = multilabel.reading_note(data, " ")
    assert note.startswith("note: --labels cells hold several labels split at ' ' (e.g. '")
    assert "--label-mode categorical reads each cell as one class" in note
    # one class per image asked for (--label-mode categorical): every cell whole
    whole = load_data(labels=str(path), multi_label=False, cache=tmp_path / "c")
    assert not whole.multi_label and "cloud road" in whole.classes
    assert multilabel.reading_note(whole, " ") is None
    # --classes naming the cells as they are: each cell is one of them
    cells = sorted(whole.classes)
    named = load_data(labels=str(path), classes=cells, cache=tmp_path / "c")
    assert not named.multi_label and named.classes == cells
    from augtrain.data.labels_csv import parts_combine

    assert parts_combine([("a",), ("a", "b")]) and parts_combine([("a", "b"), ("b", "c")])
    assert parts_combine([("a", "b"), ("b", "a")])  # the same labels in another order
    assert not parts_combine([("a", "b"), ("c",), ("a", "b"), ("d", "e", "f")])


def test_training_on_class_names_with_spaces(tmp_path, capsys):
    """No --label-mode: one class per cell, said in one line; the run's evaluation reads
    the CSV the same way. --label-mode multi splits the words; categorical on a
    multi-label CSV reads its cells whole, with no note."""
    path = write_breeds_csv(tmp_path)
    base = ["train", "--labels", str(path), "--epochs", "1", "--batch-size", "6"]
    base += ["--validation-split", "0.5", "--augment", "none", "--runs-dir", str(tmp_path / "r")]
    base += ["--cache-dir", str(tmp_path / "c"), "--model", "cnn4"]
    assert main([*base, "--name", "breeds"]) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("note: --labels")]
    assert len(notes) == 1 and "'golden retriever'" in notes[0]
    run = tmp_path / "r" / "breeds"
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["label_mode"] == "categorical"
    assert config["classes"] == sorted(BREEDS) and config["model"]["num_classes"] == 3
    assert (run / "confusion_matrix.png").is_file()
    assert main(["evaluate", str(run), "--device", "cpu"]) == 0
    assert "note:" not in capsys.readouterr().err  # the run's mode is decided: no detection
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert evaluation["samples"] == 6 and len(evaluation["confusion_matrix"]) == 3
    # asked for multi-label: the words are the labels
    assert main([*base, "--name", "words", "--label-mode", "multi"]) == 0
    assert "note:" not in capsys.readouterr().err
    words = json.loads((tmp_path / "r" / "words" / "config.json").read_text())
    assert words["config"]["label_mode"] == "multi" and len(words["classes"]) == 5
    # a multi-label CSV with --label-mode categorical: every cell one class
    tags, _ = write_multi_csv(tmp_path / "tags", n=12)
    tagged = ["--labels", str(tags), "--label-mode", "categorical", "--name", "cells"]
    assert main([*base[:1], *tagged, *base[3:]]) == 0
    assert "note:" not in capsys.readouterr().err
    cells = json.loads((tmp_path / "r" / "cells" / "config.json").read_text())
    assert cells["config"]["label_mode"] == "categorical"
    assert any(" " in c for c in cells["classes"])
