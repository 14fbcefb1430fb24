"""Issue 20: previews and results that read well. `augtrain preview` rows taken in turn from
each class and named; epochs numbered from 1 in preview and report alike; legible captions,
untruncated titles, a learning-rate panel, a compare title, a configuration table of what
matters with `auto` shown as what it resolved to; the report checked in headless Chromium."""

import numpy as np
import pytest
import torch
from fixtures import synthetic_images
from PIL import Image
from test_report import chromium, screenshot

import augtrain
from augtrain.cli import main
from augtrain.commands import preview
from augtrain.report import grids, plots
from augtrain.training.evaluate import shown_settings

CLASSES = ["red", "green", "blue"]


def write_sorted_npz(path, n=30):
    """Training images sorted by class, as folders are read: the first ten are all 'red'."""
    x, y = synthetic_images(n, 16, 3, 0)
    order = np.argsort(y, kind="stable")
    xt, yt = synthetic_images(12, 16, 3, 1)
    np.savez(path, x=x[order], y=y[order], x_test=xt, y_test=yt, classes=np.array(CLASSES))
    return path


# ------------------------------------------------------------------ preview
def test_preview_rows_take_turns_over_classes_and_are_named(tmp_path, monkeypatch):
    data = write_sorted_npz(tmp_path / "d.npz")
    drawn = {}
    real = preview.draw_grid

    def spy(sources, variants, epoch, scale, row_labels=None):
        drawn.update(epoch=epoch, labels=row_labels, n=len(sources))
        return real(sources, variants, epoch, scale, row_labels)

    monkeypatch.setattr(preview, "draw_grid", spy)
    out = tmp_path / "p.png"
    args = ["preview", "--data", str(data), "--images", "6", "--variants", "2", "--out", str(out)]
    assert main(args) == 0
    assert drawn["labels"] == CLASSES * 2 and drawn["epoch"] == 1
    grid = Image.open(out)
    assert grid.width > 3 * 16 * 6  # source + 2 variants at 6x, plus the label column
    # --first keeps consecutive images: here all of the first class
    assert main([*args, "--first", "0"]) == 0
    assert drawn["labels"] == ["red"] * 6


def test_preview_epochs_are_numbered_from_one(tmp_path, capsys):
    from augtrain.augment import preset

    x, y = synthetic_images(4, 16, 3)
    pipe = preset("crop-flip", seed=0)
    index = np.array([3, 0, 2, 1])
    first = preview.augmented_variants(x, y, pipe, index, 0, 2, 3)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    # what the Trainer applies in its first epoch (it calls the pipeline with epoch 0)
    assert torch.equal(first[0], pipe(xt, torch.as_tensor(index), 0))
    assert torch.equal(first[1], pipe(xt, torch.as_tensor(index), 1))
    labelled = preview.draw_grid(x, [x, x], 1, 2)
    header = np.asarray(labelled)[:18]
    assert header.min() < 128  # header text drawn
    data = write_sorted_npz(tmp_path / "d.npz")
    assert main(["preview", "--data", str(data), "--epoch", "0"]) == 2
    assert "numbered from 1" in capsys.readouterr().err


def test_report_augmentation_grid_numbers_epochs_from_one_and_names_rows():
    from augtrain.augment import preset

    x, y = synthetic_images(3, 16, 3)
    fig = grids.augmentation_grid(x, np.arange(3), preset("flip"), 2, 3, labels=y, classes=CLASSES)
    top = [ax.get_title() for ax in fig.axes[:3]]
    assert top == ["original", "epoch 1", "epoch 2"]
    rows = [fig.axes[3 * r].get_ylabel() for r in range(3)]
    assert rows == [CLASSES[int(c)] for c in y]


def test_class_spread_indices():
    labels = np.array([0, 0, 0, 0, 1, 1, 2])
    assert grids.class_spread_indices(labels, 5).tolist() == [0, 4, 6, 1, 5]
    assert grids.class_spread_indices(labels, 20).tolist() == [0, 4, 6, 1, 5, 2, 3]


# ------------------------------------------------------------------ figures
def _inside(fig, artist) -> bool:
    fig.canvas.draw()
    box = artist.get_window_extent(fig.canvas.get_renderer())
    return box.x0 >= 0 and box.x1 <= fig.bbox.width and box.y1 <= fig.bbox.height


def test_empty_wrong_grid_title_is_not_clipped_and_captions_are_legible():
    x, y = synthetic_images(8, 16, 3)
    probs = np.eye(3)[y]
    title = "most confidently wrong: pred / score / true"
    wrong = grids.most_confident_wrong(probs, y, 32)
    fig = grids.prediction_grid(x, probs, y, CLASSES, wrong, title, empty="no wrong predictions")
    assert len(wrong) == 0 and _inside(fig, fig._suptitle)
    assert any(t.get_text() == "no wrong predictions" for t in fig.axes[0].texts)
    fig = grids.prediction_grid(x, probs, y, CLASSES, np.arange(8), title)
    sizes = [ax.title.get_fontsize() for ax in fig.axes if ax.get_title()]
    assert len(sizes) == 8 and min(sizes) >= 9
    assert _inside(fig, fig._suptitle)


def test_learning_curves_have_an_lr_panel_and_read_any_split_name():
    history = [
        {"epoch": e, "loss": 1 / e, "accuracy": e / 4, "test_loss": 1.1 / e, "lr": 0.1 / e}
        for e in (1, 2, 3)
    ]
    fig = plots.learning_curves_figure(history)
    assert len(fig.axes) == 3 and fig.axes[2].get_ylabel() == "learning rate"
    assert list(fig.axes[2].lines[0].get_ydata()) == [0.1, 0.05, 0.1 / 3]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["train loss", "test loss"]
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert legend == ["train accuracy"]
    no_lr = [{k: v for k, v in h.items() if k != "lr"} for h in history]
    assert len(plots.learning_curves_figure(no_lr).axes) == 2
    val = [{**h, "val_accuracy": 0.5} for h in history]
    legend = [t.get_text() for t in plots.learning_curves_figure(val).axes[1].get_legend().texts]
    assert legend == ["train accuracy", "validation accuracy"]


def test_compare_figure_has_a_title():
    history = [{"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.2, "val_accuracy": 0.4}]
    fig = plots.compare_figure([("none", history), ("flip", history)])
    assert fig._suptitle.get_text() == "2 runs compared: none, flip"
    assert _inside(fig, fig._suptitle)
    long = plots.compare_title([f"run-{i:03d}-with-a-long-name" for i in range(20)])
    assert len(long) < 120 and long.endswith("…")


def test_config_table_lists_essentials_changes_and_resolved_validation():
    config = augtrain.TrainConfig(data="d.npz", epochs=3, label_smoothing=0.1).to_dict()
    rows = dict(shown_settings(config, "test"))
    for key in ("model", "data", "epochs", "batch_size", "optimizer", "lr", "schedule"):
        assert key in rows, key
    assert {"augment", "seed", "label_smoothing"} <= set(rows)
    assert rows["validation"] == "test (auto)" and rows["lr"] == "0.001 (adam's default)"
    assert rows["monitor"].endswith("(auto)") and rows["label_smoothing"] == "0.1"
    for hidden in ("gamma", "step_size", "pct_start", "runs_dir", "verbose", "amp", "name"):
        assert hidden not in rows, hidden
    rows = dict(shown_settings({**config, "validation": "split"}, "val"))
    assert rows["validation"] == "split"
    rows = dict(shown_settings(config, None))
    assert rows["validation"] == "none (auto)"


# ------------------------------------------------------------------ in a browser
@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("display")
    data = write_sorted_npz(root / "d.npz", 48)
    run = augtrain.train(
        data=str(data),
        model="cnn4",
        epochs=2,
        batch_size=16,
        label_smoothing=0.1,
        runs_dir=str(root / "runs"),
        name="shown",
        verbose=0,
        cache_dir=str(root / "cache"),
    )
    return root, run.path


def _not_blank(png, min_std=20.0):
    pixels = np.asarray(Image.open(png).convert("RGB"), dtype=np.float64)
    return pixels.std() > min_std


def test_run_pngs_are_drawn(run_folder, tmp_path):
    root, run = run_folder
    curves = Image.open(run / "learning_curves.png")
    assert curves.size == (1500, 400)  # three panels: loss, accuracy, learning rate
    assert _not_blank(run / "learning_curves.png", 5) and _not_blank(run / "confusion_matrix.png")
    assert main(["evaluate", str(run)]) == 0
    for name in ("sample_predictions.png", "wrong_predictions.png"):
        assert _not_blank(run / name, 5), name
    out = tmp_path / "compare.png"
    assert main(["compare", str(run), str(run), "--out", str(out)]) == 0
    assert Image.open(out).size == (1200, 450) and _not_blank(out, 5)


def test_report_reads_well_in_headless_chromium(run_folder, tmp_path):
    if chromium() is None:
        pytest.skip("chromium is not installed (make setup installs it: apt-get install chromium)")
    _, run = run_folder
    html = tmp_path / "report.html"
    assert main(["report", str(run), "--out", str(html)]) == 0
    page = html.read_text()
    assert '<td class="l">validation</td><td class="l">test (auto)</td>' in page
    assert '<td class="l">label_smoothing</td><td class="l">0.1</td>' in page
    assert '<td class="l">gamma</td>' not in page and '<td class="l">runs_dir</td>' not in page
    assert "taken in turn from each class" in page and "epochs 1–6" in page
    shot = tmp_path / "shot.png"
    screenshot(html, shot, tmp_path)
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64)
    assert pixels.shape[:2] == (2000, 1200) and pixels.std() > 20
    assert len(np.unique(pixels.reshape(-1, 3)[::7], axis=0)) > 500  # the images decoded
    # a run PNG opened on its own renders too
    png_shot = tmp_path / "curves.png"
    screenshot(run / "learning_curves.png", png_shot, tmp_path)
    assert _not_blank(png_shot, 5)
