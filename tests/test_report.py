"""Issue 7: evaluate (metrics, per-class report, confusion matrices, grids, TTA), compare,
runs and the HTML report, which must render in headless Chromium."""

import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import synthetic_images

import augtrain
from augtrain.cli import main
from augtrain.report.grids import most_confident_wrong, sample_indices
from augtrain.report.metrics import per_class_report, predict_logits
from augtrain.report.tta import View, apply_view, predict_tta, tta_views
from augtrain.training.checkpoint import load_model
from augtrain.training.evaluate import evaluate_run

CLASSES = ["red", "green", "blue", "cyan", "magenta", "yellow", "grey"]


def write_npz(path, n=84, size=16, classes=7, seed=0):
    x, y = synthetic_images(n, size, classes, seed)
    xt, yt = synthetic_images(42, size, classes, seed + 1)
    np.savez(path, x=x, y=y, x_test=xt, y_test=yt, classes=np.array(CLASSES[:classes]))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny runs on an .npz on disk (7 classes, so top-5 is reported): with and
    without augmentation, as the tutorial's comparison."""
    root = tmp_path_factory.mktemp("results")
    data = write_npz(root / "d.npz")
    common = dict(
        data=str(data),
        model="cnn4",
        epochs=2,
        batch_size=16,
        runs_dir=str(root / "runs"),
        verbose=0,
        cache_dir=str(root / "cache"),
    )
    a = augtrain.train(name="none", augment="none", **common)
    b = augtrain.train(name="flip", augment="flip", **common)
    return root, a.path, b.path


def test_evaluate_matches_metrics_json_and_writes_files(runs, capsys):
    _, run, _ = runs
    metrics = json.loads((run / "metrics.json").read_text())
    assert main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"accuracy {metrics['accuracy']:.4f}" in out
    assert f"loss {metrics['loss']:.4f}" in out and "top-5 accuracy" in out
    assert all(name in out for name in CLASSES) and "macro avg" in out
    for name in (
        "evaluation.json",
        "confusion_matrix.png",
        "confusion_matrix_normalized.png",
        "confusion_matrix.csv",
        "confusion_matrix_normalized.csv",
        "per_class.csv",
        "predictions.csv",
        "sample_predictions.png",
        "wrong_predictions.png",
    ):
        assert (run / name).stat().st_size > 0, name
    ev = json.loads((run / "evaluation.json").read_text())
    assert (
        ev["accuracy"] == metrics["accuracy"]
        and ev["confusion_matrix"] == metrics["confusion_matrix"]
    )
    assert abs(ev["loss"] - metrics["loss"]) < 1e-6
    assert ev["top5_accuracy"] == metrics["top5_accuracy"]
    # CSV confusion matrix: header of predicted classes, integer counts equal to metrics.json
    rows = list(csv.reader((run / "confusion_matrix.csv").open()))
    assert rows[0][1:] == CLASSES and [r[0] for r in rows[1:]] == CLASSES
    assert [[int(v) for v in r[1:]] for r in rows[1:]] == metrics["confusion_matrix"]
    norm_rows = list(csv.reader((run / "confusion_matrix_normalized.csv").open()))[1:]
    norm = np.array([[float(v) for v in r[1:]] for r in norm_rows])
    assert np.allclose(norm.sum(1), 1.0, atol=1e-5)
    preds = list(csv.DictReader((run / "predictions.csv").open()))
    assert len(preds) == 42
    assert sum(int(p["correct"]) for p in preds) == round(metrics["accuracy"] * 42)


def test_per_class_report_agrees_with_confusion_matrix(runs):
    _, run, _ = runs
    ev = evaluate_run(run)
    cm = np.asarray(ev.metrics["confusion_matrix"], dtype=float)
    for i, r in enumerate(ev.metrics["per_class"]):
        tp = cm[i, i]
        precision = tp / cm[:, i].sum() if cm[:, i].sum() else 0.0
        recall = tp / cm[i].sum()
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        assert r["class"] == CLASSES[i] and r["support"] == cm[i].sum()
        assert abs(r["precision"] - precision) < 1e-9 and abs(r["recall"] - recall) < 1e-9
        assert abs(r["f1"] - f1) < 1e-9
    # a class that is never predicted: precision 0, not a warning or NaN
    rep = per_class_report(np.array([0, 1, 2]), np.array([0, 0, 0]), ["a", "b", "c"])
    assert [r["precision"] for r in rep] == [pytest.approx(1 / 3), 0.0, 0.0]


def test_best_checkpoint_and_tta_write_their_own_folder(runs, capsys):
    _, run, _ = runs
    before = (run / "confusion_matrix.csv").read_text()
    assert main(["evaluate", str(run), "--checkpoint", "best.pt", "--tta", "flip"]) == 0
    assert "best.pt, TTA flip" in capsys.readouterr().out
    sub = run / "eval-best-flip"
    assert json.loads((sub / "evaluation.json").read_text())["tta_views"] == 2
    assert (run / "confusion_matrix.csv").read_text() == before  # the run's own files stay


def test_tta_views_are_exact_whole_pixel_gathers():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (2, 3, 6, 5), dtype=np.uint8)
    x = torch.from_numpy(img)
    padded = np.pad(img, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect")  # numpy reflect = mirror
    assert torch.equal(apply_view(x, View(flip=True)), x.flip(3))
    for dy, dx in ((1, 1), (-1, -1), (2, -1)):
        want = padded[:, :, 2 + dy : 2 + dy + 6, 2 + dx : 2 + dx + 5]
        assert np.array_equal(apply_view(x, View(dy, dx)).numpy(), want)
        assert np.array_equal(apply_view(x, View(dy, dx, True)).numpy(), want[..., ::-1])
    assert [len(tta_views(m)) for m in ("none", "flip", "flip-translate")] == [1, 2, 6]
    assert len(set(tta_views("flip-translate"))) == 6


def test_predict_tta_averages_softmax(runs):
    _, run, _ = runs
    model, _ = load_model(run)
    x = synthetic_images(20, 16, 7, 5)[0]
    plain = predict_logits(model, x)
    assert torch.equal(predict_tta(model, x, mode="none"), plain)
    flipped = predict_logits(model, x[:, :, ::-1].copy())
    want = (torch.softmax(plain, 1) + torch.softmax(flipped, 1)) / 2
    got = predict_tta(model, x, mode="flip", batch_size=7)
    assert torch.allclose(got.exp(), want, atol=1e-6)
    six = predict_tta(model, x, mode="flip-translate").exp()
    assert torch.allclose(six.sum(1), torch.ones(20), atol=1e-5)


def test_grid_helpers():
    assert list(sample_indices(5, 10)) == [0, 1, 2, 3, 4]
    assert len(set(sample_indices(100, 16))) == 16
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])
    labels = np.array([1, 1, 0, 0])
    assert list(most_confident_wrong(probs, labels, 5)) == [0, 3, 2]
    assert list(most_confident_wrong(probs, labels, 1)) == [0]


def test_compare_and_runs(runs, capsys, tmp_path):
    root, a, b = runs
    out = tmp_path / "cmp.png"
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["run", "model", "augment"]
    for run, aug in ((a, "none"), (b, "flip")):
        m = json.loads((run / "metrics.json").read_text())
        row = next(line for line in lines if line.startswith(run.name + " "))
        assert aug in row and f"{m['accuracy']:.4f}" in row and " 2 " in row
    assert out.stat().st_size > 10_000
    # an unfinished run (config.json only) is listed with '-' for its test accuracy
    half = root / "runs" / "half"
    half.mkdir()
    shutil.copy(a / "config.json", half / "config.json")
    assert main(["runs", str(root / "runs")]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split() == [
        "run",
        "model",
        "augment",
        "epochs",
        "best",
        "val",
        "test",
        "acc",
        "date",
    ]
    names = [line.split()[0] for line in listed[1:]]
    assert sorted(names) == ["flip", "half", "none"]
    assert next(line for line in listed if line.startswith("half")).count(" - ") >= 1
    assert main(["runs", str(tmp_path)]) == 0 and "no runs" in capsys.readouterr().out


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(html: Path, png: Path, tmp: Path) -> None:
    subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp / 'chromium-profile'}",
            f"--screenshot={png}",
            "--window-size=1200,2000",
            html.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp)},
    )


def test_report_is_self_contained_html(runs, tmp_path, capsys):
    _, run, b = runs
    out = tmp_path / "r.html"
    assert main(["report", str(b), "--out", str(out)]) == 0
    page = out.read_text()
    for section in (
        "Configuration",
        "Augmentation preview",
        "Learning curves",
        "Confusion matrix",
        "Per-class results",
        "Sample predictions",
        "Most confidently wrong",
    ):
        assert f"<h2>{section}</h2>" in page, section
    assert "RandomHorizontalFlip" in page and 'class="note"' not in page
    srcs = [s.split('"')[0] for s in page.split('src="')[1:]]
    assert len(srcs) >= 6 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "http://" not in page and "https://" not in page and "<link" not in page


def test_report_renders_in_headless_chromium(runs, tmp_path):
    if chromium() is None:
        pytest.skip("chromium is not installed (make setup installs it: apt-get install chromium)")
    from PIL import Image

    _, run, _ = runs
    html = tmp_path / "report.html"
    assert main(["report", str(run), "--out", str(html)]) == 0
    png = tmp_path / "shot.png"
    screenshot(html, png, tmp_path)
    shot = np.asarray(Image.open(png).convert("RGB"), dtype=np.float64)
    assert shot.shape[:2] == (2000, 1200)
    assert shot.std() > 20  # a blank (or all-one-colour) page has ~0
    # the embedded images were decoded: many distinct colours, not just text on white
    assert len(np.unique(shot.reshape(-1, 3)[::7], axis=0)) > 500


def test_report_of_array_run_notes_missing_data(tmp_path):
    x, y = synthetic_images(48, 8, 3, 0)
    run = augtrain.train(
        data={"x": x, "y": y, "x_test": x[:12], "y_test": y[:12]},
        model="cnn4",
        epochs=1,
        batch_size=16,
        runs_dir=str(tmp_path),
        name="arr",
        verbose=0,
    )
    assert main(["report", str(run.path)]) == 0
    page = (run.path / "report.html").read_text()
    assert "in-memory arrays" in page and "<h2>Learning curves</h2>" in page
    assert page.count('class="note"') >= 2
    # with --data pointing at the same arrays on disk, everything is there
    np.savez(tmp_path / "same.npz", x=x, y=y, x_test=x[:12], y_test=y[:12])
    assert main(["report", str(run.path), "--data", str(tmp_path / "same.npz")]) == 0
    assert "<h2>Most confidently wrong</h2>" in (run.path / "report.html").read_text()


def test_augmentation_grid_shows_what_training_saw():
    """Variants are the pipeline's output for (seed, epoch, dataset index); float and
    label-mixing ops are drawn too."""
    from augtrain.augment import preset
    from augtrain.augment.pipeline import Compose, Op
    from augtrain.report.grids import _displayable, augmentation_grid
    from augtrain.report.plots import png_bytes

    x = synthetic_images(4, 16, 3, 0)[0]
    index = np.array([5, 9, 11, 40])
    pipe = preset("crop-flip", seed=3)
    want = pipe(torch.from_numpy(x).permute(0, 3, 1, 2), torch.from_numpy(index), 2)
    assert np.array_equal(_displayable(want), want.permute(0, 2, 3, 1).numpy())

    class Mix(Op):
        mixes_labels = True

        def mix(self, images, targets, draw):
            return images.float() / 255 * 2 - 0.5, targets.flip(0)  # float outside [0, 1]

    shown = _displayable(torch.rand(2, 3, 4, 4) * 3 - 1)
    assert shown.dtype == np.uint8 and shown.min() == 0 and shown.max() == 255
    for pipeline in (pipe, Compose([Mix()])):
        fig = augmentation_grid(x, index, pipeline, 3, 3, labels=np.array([0, 1, 2, 0]))
        assert png_bytes(fig).startswith(b"\x89PNG")


def test_table_csv_takes_its_header_from_the_first_row():
    from augtrain.report.metrics import table_csv

    rows = [{"class": "cat", "f1": 0.5}, {"class": "dog, big", "f1": 1.0}]
    assert table_csv(rows) == 'class,f1\ncat,0.5\n"dog, big",1.0\n'
