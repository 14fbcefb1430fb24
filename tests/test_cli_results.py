"""Issue 7, bad input: not a run folder, a run with no checkpoint, images with a different
channel count, an empty folder to predict, an unknown TTA mode... one line on stderr and
exit code 2, for every results command."""

import shutil

import numpy as np
import pytest
from fixtures import synthetic_images

import augtrain
from augtrain.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    x, y = synthetic_images(32, 8, 2, 0)
    np.savez(root / "d.npz", x=x, y=y, x_test=x[:8], y_test=y[:8])
    r = augtrain.train(
        data=str(root / "d.npz"),
        model="cnn4",
        epochs=1,
        batch_size=16,
        runs_dir=str(root / "runs"),
        name="ok",
        verbose=0,
    )
    return root, r.path


def one_line_error(capsys, argv, *needles):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, (argv, err)
    assert len(err) == 1, err
    assert err[0].startswith(f"augtrain {argv[0]}: ") or err[0].startswith("augtrain: error"), err
    for needle in needles:
        assert needle in err[0], (needle, err[0])
    return err[0]


COMMANDS = [
    ["evaluate"],
    ["predict", "IMG"],
    ["report"],
    ["export", "--format", "onnx"],
    ["compare"],
]


def argv_for(cmd, run, img):
    return [cmd[0], str(run), *[img if a == "IMG" else a for a in cmd[1:]]]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c[0])
def test_not_a_run_folder(run, tmp_path, capsys, cmd):
    root, _ = run
    img = str(tmp_path / "x.png")
    one_line_error(capsys, argv_for(cmd, tmp_path, img), "not a run folder")
    one_line_error(capsys, argv_for(cmd, tmp_path / "missing", img), "missing")
    one_line_error(capsys, argv_for(cmd, root / "d.npz", img), "d.npz")


@pytest.mark.parametrize("cmd", COMMANDS[:4], ids=lambda c: c[0])
def test_run_without_checkpoint(run, tmp_path, capsys, cmd):
    _, path = run
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(path / "config.json", bare / "config.json")
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "x.png")
    one_line_error(capsys, argv_for(cmd, bare, str(tmp_path / "x.png")), "no checkpoint", "last.pt")


def test_missing_best_checkpoint_names_what_is_there(run, capsys, tmp_path):
    _, path = run
    bare = tmp_path / "onlylast"
    bare.mkdir()
    for f in ("config.json", "last.pt"):
        shutil.copy(path / f, bare / f)
    one_line_error(capsys, ["evaluate", str(bare), "--checkpoint", "best.pt"], "best.pt", "last.pt")


def test_unknown_tta_mode(run, capsys):
    _, path = run
    one_line_error(capsys, ["evaluate", str(path), "--tta", "rotate"], "rotate", "flip-translate")
    one_line_error(capsys, ["report", str(path), "--tta", "rotate"], "rotate")


def test_images_with_another_channel_count(run, tmp_path, capsys):
    _, path = run
    x, y = synthetic_images(8, 8, 2, 3)
    np.savez(tmp_path / "gray.npz", x=x[..., :1], y=y)
    one_line_error(capsys, ["evaluate", str(path), "--data", str(tmp_path / "gray.npz")], "channel")
    np.savez(tmp_path / "big.npz", x=np.zeros((4, 12, 12, 3), np.uint8), y=y[:4])
    one_line_error(capsys, ["evaluate", str(path), "--data", str(tmp_path / "big.npz")], "12x12")


def test_channel_count_no_image_file_can_have(tmp_path, capsys):
    x = np.random.default_rng(0).integers(0, 255, (32, 8, 8, 2), dtype=np.uint8)
    r = augtrain.train(
        data={"x": x, "y": np.arange(32) % 2},
        model="cnn4",
        epochs=1,
        batch_size=16,
        runs_dir=str(tmp_path),
        name="two",
        verbose=0,
    )
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "x.png")
    one_line_error(capsys, ["predict", str(r.path), str(tmp_path / "x.png")], "2-channel")
    one_line_error(capsys, ["evaluate", str(r.path)], "in-memory arrays", "--data")


def test_predict_empty_folder_and_missing_path(run, tmp_path, capsys):
    _, path = run
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    one_line_error(capsys, ["predict", str(path), str(empty)], "empty", "no image files")
    one_line_error(capsys, ["predict", str(path), str(tmp_path / "nope.jpg")], "nope.jpg")
    one_line_error(capsys, ["predict", str(path), str(empty), "--top-k", "0"], "--top-k")


def test_runs_and_compare_paths(run, tmp_path, capsys):
    _, path = run
    one_line_error(capsys, ["runs", str(tmp_path / "nowhere")], "nowhere")
    one_line_error(capsys, ["compare", str(path), str(tmp_path)], "not a run folder")
    one_line_error(capsys, ["compare", str(path), "--out", str(tmp_path / "c.txt")], "c.txt")


_CLOSED_PIPE = """
import sys
from augtrain.cli import main


class ClosedPipe:  # what stdout becomes once the reader of the pipe has gone
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        pass

    def fileno(self):
        return 1


sys.stdout = ClosedPipe()
sys.exit(main(["models"]))
"""


def test_output_piped_into_a_reader_that_leaves_early_is_no_traceback():
    """`augtrain predict RUN DIR | head`: the pipe closes under the writer; exit quietly
    with a shell's code for SIGPIPE."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _CLOSED_PIPE], capture_output=True, text=True)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 141
