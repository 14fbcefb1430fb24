"""augtrain in Jupyter (issue 16): which progress bar where, plots that leave the user's pyplot
alone, the short reprs of a Run, and a real notebook run through nbclient."""

import io
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch.nn as nn
from fixtures import synthetic_arrays, synthetic_images, write_image_folder

import augtrain
from augtrain import progress
from augtrain.cli import main
from augtrain.keras import fit
from augtrain.report.evaluation import write_evaluation
from augtrain.training.config import TrainConfig
from augtrain.training.evaluate import evaluate_run
from augtrain.training.run import Run


class Terminal(io.StringIO):
    def isatty(self):
        return True


def fake_kernel(monkeypatch, widgets: bool):
    """Make this process look like a Jupyter kernel (as tqdm.autonotebook tests for it)."""
    shell = SimpleNamespace(config={"IPKernelApp": {}}, kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", SimpleNamespace(get_ipython=lambda: shell))
    monkeypatch.setattr(progress, "_widgets_available", lambda: widgets)


def tiny_data(n=32):
    return synthetic_arrays(n, 16, 24, 0)


def train_tiny(tmp_path, **kw):
    opts = dict(
        data=tiny_data(),
        model="cnn4",
        epochs=1,
        batch_size=16,
        runs_dir=str(tmp_path),
        name="tiny",
        overwrite=True,
    )
    return augtrain.train(**{**opts, **kw})


# ------------------------------------------------------------------ which bar
def test_bar_kind_terminal_pipe_and_kernel(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert progress.bar_kind() is None
    bar = progress.progress_bar(4, "x", "batch")
    assert bar.disable
    bar.update(1)
    bar.close()
    assert sys.stderr.getvalue() == ""  # a log file gets no bar

    monkeypatch.setattr(sys, "stderr", Terminal())
    assert progress.bar_kind() == "terminal"
    # a terminal IPython is not a kernel: it keeps the terminal bar
    terminal_shell = SimpleNamespace(config={})
    monkeypatch.setitem(sys.modules, "IPython", SimpleNamespace(get_ipython=lambda: terminal_shell))
    assert progress.bar_kind() == "terminal"

    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a kernel's stderr is no tty
    fake_kernel(monkeypatch, widgets=False)
    assert progress.bar_kind() == "notebook-text"
    bar = progress.progress_bar(4, "epoch 1/1", "batch")
    assert not bar.disable
    bar.update(4)
    bar.close()
    assert "epoch 1/1:" in sys.stderr.getvalue() and "/4 " in sys.stderr.getvalue()
    fake_kernel(monkeypatch, widgets=True)
    assert progress.bar_kind() == "notebook-widget"


def test_trainer_bar_in_a_kernel_none_in_a_log(tmp_path, monkeypatch, capsys):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    train_tiny(tmp_path)
    out = capsys.readouterr().out
    assert "epoch 1/1 - " in out  # the one line per epoch
    assert "batch" not in log.getvalue()

    cell = io.StringIO()
    monkeypatch.setattr(sys, "stderr", cell)
    fake_kernel(monkeypatch, widgets=False)
    train_tiny(tmp_path)
    assert "epoch 1/1 - " in capsys.readouterr().out
    assert "epoch 1/1:" in cell.getvalue() and "/2 " in cell.getvalue()  # 32 images / 16


def test_keras_fit_uses_the_same_decision(monkeypatch, capsys):
    x, y = synthetic_images(32, 16, 3, 0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 14 * 14, 3))
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    fit(model, x / 255.0, y, batch_size=16, epochs=1, device="cpu")
    assert "epoch 1/1 - " in capsys.readouterr().out and "batch" not in log.getvalue()
    cell = io.StringIO()
    monkeypatch.setattr(sys, "stderr", cell)
    fake_kernel(monkeypatch, widgets=False)
    fit(model, x / 255.0, y, batch_size=16, epochs=1, device="cpu")
    assert "epoch 1/1 - " in capsys.readouterr().out
    assert "epoch 1/1:" in cell.getvalue() and "batch" in cell.getvalue()


# ------------------------------------------------------------- pyplot untouched
def test_training_and_reports_leave_the_users_pyplot_alone(tmp_path, capsys):
    import matplotlib
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    plt.switch_backend("svg")  # stands for the user's inline or GUI backend
    try:
        mine = plt.figure()
        npz = tmp_path / "d.npz"
        np.savez(npz, **tiny_data())
        on_disk = dict(data=str(npz), cache_dir=str(tmp_path / "cache"), verbose=0)
        run = train_tiny(tmp_path, **on_disk)
        assert (run.path / "learning_curves.png").stat().st_size > 1000
        assert (run.path / "confusion_matrix.png").stat().st_size > 1000
        written = write_evaluation(evaluate_run(run.path), tmp_path / "eval", grid_size=8)
        assert any(p.name == "sample_predictions.png" for p in written)
        assert main(["report", str(run.path), "--out", str(tmp_path / "r.html")]) == 0
        other = train_tiny(tmp_path, **on_disk, name="other")
        cmp = tmp_path / "cmp.png"
        assert main(["compare", str(run.path), str(other.path), "--out", str(cmp)]) == 0
        assert cmp.stat().st_size > 1000
        imgs = write_image_folder(tmp_path / "imgs", per_class=2, size=12)
        preview = tmp_path / "p.png"
        assert main(["preview", "--data", str(imgs), "--images", "2", "--out", str(preview)]) == 0
        assert matplotlib.get_backend() == "svg"
        assert plt.get_fignums() == [mine.number] and plt.gcf() is mine
    finally:
        plt.close("all")
        plt.switch_backend(before)
    capsys.readouterr()


# ----------------------------------------------------------------- Run's reprs
def fake_run(**kw):
    fields = dict(
        path=Path("runs/cifar-a"),
        config=TrainConfig(model="cnn4", epochs=3),
        history=[{"epoch": 1}, {"epoch": 2}],
        metrics={"split": "test", "accuracy": 0.8125, "confusion_matrix": np.eye(10).tolist()},
        model=nn.Linear(3072, 10),
        classes=[str(i) for i in range(10)],
    )
    return Run(**{**fields, **kw})


def test_run_repr_is_one_short_line():
    run = fake_run()
    assert repr(run) == "Run('runs/cifar-a', model cnn4, epochs 2/3, test accuracy 0.8125)"
    unfinished = fake_run(path=None, history=[], metrics={})
    assert repr(unfinished) == "Run('-', model cnn4, epochs 0/3, test accuracy -)"
    assert "val accuracy 0.5000" in repr(fake_run(metrics={"split": "val", "accuracy": 0.5}))
    logistic = fake_run(config=TrainConfig(head="logistic", features="f.npz"), history=[{}])
    assert "model logistic, epochs -," in repr(logistic)  # one fit, no epochs


def test_run_html_repr_is_a_small_escaped_table():
    html = fake_run(path=Path("runs/a&<b>"))._repr_html_()
    assert html.startswith("<table") and html.endswith("</table>")
    assert html.count("<tr>") == 4
    for text in ("cnn4", "2/3", "0.8125", "runs/a&amp;&lt;b&gt;"):
        assert text in html
    assert "<b>" not in html and len(html) < 1000


def test_trained_run_repr_names_its_folder_and_model(tmp_path, capsys):
    run = train_tiny(tmp_path, verbose=0, model="lenet5")
    assert repr(run).startswith(f"Run({str(run.path)!r}, model lenet5, epochs 1/1, test accuracy ")
    assert "\n" not in repr(run) and len(repr(run)) < 200


# --------------------------------------------------------------- a real notebook
NOTEBOOK_CELLS = [
    """\
import numpy as np
import augtrain
rng = np.random.default_rng(0)
x = rng.integers(0, 256, (64, 16, 16, 3), dtype=np.uint8)
y = rng.integers(0, 2, 64)
data = {"x": x, "y": y, "x_test": x[:16], "y_test": y[:16]}
run = augtrain.train(data=data, model="cnn4", epochs=2, batch_size=16, runs_dir=RUNS,
                     name="nb", device="cpu")""",
    "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()",
    "run",
]


def test_a_notebook_trains_then_plots_inline(tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipykernel")
    # a kernelspec for this interpreter (the venv's), found through JUPYTER_PATH only
    spec = tmp_path / "jupyter" / "kernels" / "augtrain-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "augtrain test",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    # connection files and the IPython profile in tmp too: a CI home may be read-only
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # as conftest limits this process
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel picks its inline backend
    cells = [f"RUNS = {str(tmp_path / 'runs')!r}", *NOTEBOOK_CELLS]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(
        nb,
        kernel_name="augtrain-test",
        timeout=600,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    train_cell, plot_cell, run_cell = nb.cells[1:]

    def streams(cell, name):
        return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == name)

    assert "epoch 1/2 - " in streams(train_cell, "stdout")
    assert "epoch 2/2 - " in streams(train_cell, "stdout")
    bars = streams(train_cell, "stderr")
    widgets = [
        o
        for o in train_cell.outputs
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert widgets or ("epoch 1/2:" in bars and "batch" in bars)
    images = [o for o in plot_cell.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1  # the inline backend survived augtrain.train()
    (result,) = [o for o in run_cell.outputs if o.output_type == "execute_result"]
    assert "<table class='augtrain-run'>" in result.data["text/html"]
    assert (
        result.data["text/plain"].startswith("Run(") and "epochs 2/2" in result.data["text/plain"]
    )
