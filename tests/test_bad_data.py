"""Whatever a user's data holds, augtrain neither crashes, hangs nor runs code: each bad
input is one AugtrainError line naming the file or argument (exit 2 from the CLI)."""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import subprocess
import sys
import tarfile
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from fixtures import CIFAR_CLASSES, cifar_batches, synthetic_images, write_image_folder
from PIL import Image

import augtrain.data.cifar10 as cifar10
from augtrain.cli import main
from augtrain.data import cache, load_data, load_image
from augtrain.data.folder import walk_image_files
from augtrain.errors import AugtrainError

REPO = Path(__file__).resolve().parent.parent


class Hung(BaseException):
    """Not an OSError (TimeoutError is one): code that skips unreadable folders must not
    swallow it."""


@contextlib.contextmanager
def fails_fast(seconds: int = 20):
    """Turn a hang into a test failure (SIGALRM interrupts a blocking open of a FIFO)."""

    def on_alarm(signum, frame):
        raise Hung(f"hung for {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def one_line_error(call, match: str) -> str:
    with pytest.raises(AugtrainError, match=match) as e:
        call()
    assert "\n" not in str(e.value)
    return str(e.value)


# --- CIFAR-10 pickles ------------------------------------------------------------------


class MakesMarker:
    """A pickle that, loaded by plain pickle.loads, runs exec() and creates a file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


def write_cifar_folder(folder: Path, replace: dict[str, bytes] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    members = {name: pickle.dumps(b) for name, b in cifar_batches().items()}
    members["batches.meta"] = pickle.dumps({b"label_names": [c.encode() for c in CIFAR_CLASSES]})
    members.update(replace or {})
    for name, raw in members.items():
        (folder / name).write_bytes(raw)
    return folder


def test_malicious_cifar_pickle_is_refused_not_run(tmp_path):
    marker = tmp_path / "pwned"
    evil = pickle.dumps({b"data": MakesMarker(marker), b"labels": [0]})
    # the payload is real: plain pickle would have run it
    pickle.loads(evil)
    assert marker.exists()
    marker.unlink()
    folder = write_cifar_folder(tmp_path / "cifar-10-batches-py", {"data_batch_2": evil})
    message = one_line_error(lambda: load_data(folder), r"data_batch_2: not a CIFAR-10")
    assert "builtins.exec" in message and "not loaded" in message
    assert not marker.exists()


def test_malicious_pickle_in_tarball_and_meta(tmp_path):
    marker = tmp_path / "pwned"
    evil = pickle.dumps({b"label_names": MakesMarker(marker)})
    tar_path = tmp_path / "cifar-10-python.tar.gz"
    folder = write_cifar_folder(tmp_path / "src" / "cifar-10-batches-py", {"batches.meta": evil})
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    with pytest.warns(UserWarning, match="not the official"):
        one_line_error(lambda: load_data(tar_path), r"batches\.meta: not a CIFAR-10")
    assert not marker.exists()


@pytest.mark.parametrize(
    "meta, match",
    [
        (b"\x80\x04garbage", "batches.meta: not a CIFAR-10 batches.meta"),
        (pickle.dumps([1, 2]), "not a dict"),
        (pickle.dumps({b"label_names": [b"a", b"b"]}), "needs 10 label_names"),
        (pickle.dumps({b"label_names": [b"a"] * 10}), "repeat a name"),
    ],
)
def test_bad_batches_meta(tmp_path, meta, match):
    folder = write_cifar_folder(tmp_path / "c", {"batches.meta": meta})
    one_line_error(lambda: load_data(folder), match)


@pytest.mark.parametrize(
    "batch, match",
    [
        ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, r"uint8 \(N, 3072\)"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "N b'labels'"),
        ({b"data": np.zeros((1, 3072), np.uint8), b"labels": [12]}, "label 12 outside"),
        ({b"labels": [0]}, "not a CIFAR-10 python batch"),
    ],
)
def test_bad_batch_contents(tmp_path, batch, match):
    folder = write_cifar_folder(tmp_path / "c", {"test_batch": pickle.dumps(batch)})
    one_line_error(lambda: load_data(folder), rf"test_batch: .*{match}")


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_every_pickle_protocol_and_numpy_1_names_load(tmp_path, protocol):
    batches = cifar_batches()
    replace = {}
    for name, batch in batches.items():
        raw = pickle.dumps(batch, protocol=protocol)
        if protocol == 2:  # as numpy 1.x (and the official files) name the module
            raw = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
            assert b"numpy.core.multiarray" in raw
        replace[name] = raw
    data = load_data(write_cifar_folder(tmp_path / "c", replace))
    assert np.array_equal(data.test.y, batches["test_batch"][b"labels"])
    want = batches["data_batch_1"][b"data"][3].reshape(3, 32, 32).transpose(1, 2, 0)
    assert np.array_equal(data.train.x[3], want)


def test_local_tarball_md5_is_checked(tmp_path, monkeypatch):
    from fixtures import write_cifar_tarball

    tar = write_cifar_tarball(tmp_path / "cifar-10-python.tar.gz")
    with pytest.warns(UserWarning, match=r"md5 [0-9a-f]{32} is not the official"):
        assert len(load_data(tar).train) == 50
    # the official md5: no warning
    monkeypatch.setattr(cifar10, "MD5", cifar10.md5sum(tar))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_data(tar, use_cache=False)


def test_folder_holding_cifar_points_at_it(tmp_path):
    write_cifar_folder(tmp_path / "downloads" / "cifar-10-batches-py")
    message = one_line_error(lambda: load_data(tmp_path / "downloads"), "CIFAR-10")
    assert f"--data {tmp_path / 'downloads' / 'cifar-10-batches-py'}" in message
    assert "only one class" not in message
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "cifar-10-python.tar.gz").write_bytes(b"x")
    one_line_error(lambda: load_data(tmp_path / "t"), r"pass --data .*t/cifar-10-python\.tar\.gz")


# --- arrays and npz ----------------------------------------------------------------


def test_keras_shaped_labels(tmp_path):
    x, y = synthetic_images(12, 8)
    data = load_data((x, y[:, None]))  # keras.datasets.*.load_data() gives (N, 1)
    assert data.classes == ["0", "1", "2"] and np.array_equal(data.train.y, y)
    np.savez(tmp_path / "k.npz", x=x, y=y[:, None], x_test=x[:3], y_test=y[:3, None])
    data = load_data(tmp_path / "k.npz")
    assert data.num_classes == 3 and np.array_equal(data.test.y, y[:3])
    soft = np.eye(3)[y] * 0.9 + 0.1 / 3  # label smoothing still has one largest entry
    assert np.array_equal(load_data((x, soft)).train.y, y)


@pytest.mark.parametrize(
    "y, match",
    [
        (np.zeros((12, 3)), "row 0 .* no single largest entry"),
        (np.tile([0.5, 0.5, 0.0], (12, 1)), "no single largest entry"),
        (np.arange(12) % 2 == 0, "dtype bool"),
        ((np.arange(12) % 3).astype(complex), "dtype complex"),
        (np.arange(12, dtype=float) / 2, "integer class labels"),
        (np.r_[np.arange(11) % 3, 1_000_000], "labels run up to 1000000 but only 4 different"),
        (np.zeros((12, 2, 2)), r"shape \(N,\), \(N, 1\) or \(N, classes\)"),
    ],
)
def test_bad_labels(y, match):
    x, _ = synthetic_images(12, 8)
    one_line_error(lambda: load_data((x, y)), match)


def test_string_labels_map_to_sorted_classes(tmp_path):
    x, y = synthetic_images(12, 8)
    names = np.array(["zebra", "ant", "moose"])[y]
    data = load_data((x, names.tolist()))
    assert data.classes == ["ant", "moose", "zebra"]
    assert [data.classes[i] for i in data.train.y] == names.tolist()
    # npz: all splits share one class list; bytes and str alike
    np.savez(tmp_path / "s.npz", x=x, y=names, x_test=x[:2], y_test=names[:2].astype("S"))
    data = load_data(tmp_path / "s.npz")
    assert data.classes == ["ant", "moose", "zebra"]
    assert [data.classes[i] for i in data.test.y] == names[:2].tolist()
    # given classes keep their order; a label outside them is named
    data = load_data({"x": x, "y": names, "classes": ["zebra", "moose", "ant"]})
    assert [data.classes[i] for i in data.train.y] == names.tolist()
    one_line_error(
        lambda: load_data({"x": x, "y": names, "classes": ["zebra", "moose"]}),
        "label 'ant' is not one of the classes",
    )
    one_line_error(
        lambda: load_data({"x": x, "y": names, "x_test": x, "y_test": y}),
        "all be class names or all integers",
    )


@pytest.mark.parametrize(
    "make_x, match",
    [
        (lambda x: np.where(np.arange(x.size).reshape(x.shape) == 700, np.nan, x / 255.0), "NaN"),
        (lambda x: x.astype(bool), "dtype bool"),
        (lambda x: x.astype(np.complex64), "dtype complex64"),
        (lambda x: x.astype(np.float32) * 2 - 100, r"found -100\.\.400"),
        (lambda x: np.array([x[0], x[1, :4], None], dtype=object)[:2], "Python objects"),
    ],
)
def test_bad_pixels(make_x, match):
    x, y = synthetic_images(12, 8)
    one_line_error(lambda: load_data((make_x(x.astype(np.float64)), y)), match)


def test_nan_image_is_located():
    x, y = synthetic_images(12, 8)
    xf = x / 255.0
    xf[5, 2, 2, 1] = np.nan
    one_line_error(lambda: load_data((xf, y)), "first in image 5")


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "empty file, not a .npz"),
        (b"hello, this is not a zip", r"not a \.npz archive \(write one with numpy\.savez\)"),
    ],
)
def test_unreadable_npz(tmp_path, content, match):
    path = tmp_path / "d.npz"
    path.write_bytes(content)
    message = one_line_error(lambda: load_data(path), match)
    assert str(path) in message and "allow_pickle" not in message


def test_npz_with_objects_and_duplicate_classes(tmp_path):
    x, y = synthetic_images(12, 8)
    np.savez(tmp_path / "o.npz", x=x, y=np.array(list(y), dtype=object))
    message = one_line_error(
        lambda: load_data(tmp_path / "o.npz"), "array 'y' holds Python objects"
    )
    assert "allow_pickle" not in message
    np.savez(tmp_path / "c.npz", x=x, y=y, classes=np.array(["a", "b", "a"]))
    one_line_error(lambda: load_data(tmp_path / "c.npz"), "classes names 'a' more than once")


def test_cli_bad_data_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "empty.npz").write_bytes(b"")
    argv = ["--epochs", "1", "--verbose", "0", "--runs-dir", str(tmp_path / "runs")]
    code = main(["train", "--data", str(tmp_path / "empty.npz"), *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "Traceback" not in err
    assert err.count("\n") == 0 and "empty.npz: empty file" in err


# --- folders: files that are not images, links, odd images ---------------------------


def test_fifo_in_class_folder_is_skipped_not_waited_on(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=3)
    os.mkfifo(root / "cat" / "pipe.jpg")
    with fails_fast(), pytest.warns(UserWarning, match=r"skipped 1 file.*pipe\.jpg"):
        data = load_data(root)
    assert len(data.train) == 9 and "cat/pipe.jpg" not in data.train.filenames


def test_fifo_given_as_image_is_an_error_not_a_hang(tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")
    with fails_fast():
        one_line_error(lambda: load_image(tmp_path / "pipe.jpg"), "pipe.jpg: not a regular file")
        one_line_error(lambda: load_image(tmp_path), "a folder")
        one_line_error(lambda: load_image(tmp_path / "missing.png"), "No such file")


def test_broken_and_looping_links_are_skipped(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=2)
    (root / "cat" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (root / "dog" / "loop.png").symlink_to(root / "dog" / "loop.png")
    (root / "eel" / "alias.png").symlink_to(root / "eel" / "000.png")  # a link to a file is fine
    with pytest.warns(UserWarning, match="skipped 2 file"):
        data = load_data(root)
    assert len(data.train) == 7 and "eel/alias.png" in data.train.filenames
    one_line_error(lambda: load_image(root / "dog" / "loop.png"), "loop.png")


def test_links_to_folders_above_are_walked_once(tmp_path):
    from augtrain.keras.image import ImageDataGenerator

    root = write_image_folder(tmp_path / "imgs", per_class=4)
    (root / "cat" / "self").symlink_to(".")
    (root / "cat" / "self2").symlink_to(".")  # two loops: os.walk's paths grow exponentially
    (root / "dog" / "again").symlink_to(root / "dog")
    (tmp_path / "extra").mkdir()
    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(tmp_path / "extra" / "e.png")
    (root / "eel" / "extra").symlink_to(tmp_path / "extra")  # a link elsewhere is followed
    with fails_fast():
        files = walk_image_files(root / "cat", follow_links=True)
        gen = ImageDataGenerator().flow_from_directory(
            str(root), target_size=(12, 12), follow_links=True, shuffle=False
        )
    assert files == sorted(str(p) for p in (root / "cat").glob("*.png"))
    assert gen.samples == 13 and len(set(gen.filenames)) == 13
    assert os.path.join("eel", "extra", "e.png") in gen.filenames
    assert not [f for f in gen.filenames if "self" in f or "again" in f]


def test_predict_folder_with_self_link_lists_each_image_once(tmp_path):
    from augtrain.report.predict import expand_inputs

    root = write_image_folder(tmp_path / "imgs", per_class=2)
    (root / "self").symlink_to(".")
    (root / "cat" / "twice").symlink_to("..")
    os.mkfifo(root / "dog" / "fifo.png")
    with fails_fast(), pytest.warns(UserWarning, match="fifo.png"):
        files = expand_inputs([root])
    assert len(files) == 6 and len(set(files)) == 6


def write_png16(path: Path, pixels: np.ndarray) -> None:
    """A 16-bit PNG (gray, or RGB), written by hand: PIL writes 16-bit grayscale only."""
    pixels = np.asarray(pixels, dtype=">u2")
    h, w = pixels.shape[:2]
    color = 0 if pixels.ndim == 2 else 2
    rows = b"".join(b"\x00" + pixels[r].tobytes() for r in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", w, h, 16, color, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_16_bit_pngs_scale_to_8_bits(tmp_path):
    gray = np.array([[0, 257, 32768, 65535]], np.uint16)
    write_png16(tmp_path / "g.png", gray)
    assert load_image(tmp_path / "g.png", color_mode="grayscale")[0, :, 0].tolist() == [
        0,
        1,
        128,
        255,
    ]
    assert load_image(tmp_path / "g.png")[0, 2].tolist() == [128, 128, 128]
    rgb = np.stack([gray, gray[:, ::-1], np.full_like(gray, 1000)], -1)
    write_png16(tmp_path / "c.png", rgb)
    assert load_image(tmp_path / "c.png")[0, 2].tolist() == [128, 1, 3]  # PIL: high bytes


def test_1x1_images_load_and_a_model_too_small_for_them_is_named(tmp_path):
    import augtrain

    root = tmp_path / "tiny"
    for c, v in (("a", 10), ("b", 200)):
        (root / c).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((1, 1, 3), v + i, np.uint8)).save(root / c / f"{i}.png")
    data = load_data(root)
    assert data.train.x.shape == (8, 1, 1, 3) and data.train.x[4, 0, 0, 0] == 200
    one_line_error(
        lambda: augtrain.train(
            data=str(root), model="cnn4", epochs=1, runs_dir=str(tmp_path / "r"), verbose=0
        ),
        "model 'cnn4' cannot take 1x1 images",
    )


def test_folder_layout_mistakes(tmp_path):
    root = write_image_folder(tmp_path / "one", per_class=2)
    (root / "empty_class").mkdir()
    one_line_error(lambda: load_data(root), r"no images found in class folder\(s\) 'empty_class'")
    ds = tmp_path / "ds"
    write_image_folder(ds / "train", per_class=2, classes=("cat", "dog"))
    write_image_folder(ds / "test", per_class=1, classes=("cat", "dog", "yak", "eel"))
    one_line_error(lambda: load_data(ds), r"'eel', 'yak' in test/ but not in train/")
    # classes given: the others are ignored, as they are in train/
    assert load_data(ds, classes=["dog", "cat"]).classes == ["dog", "cat"]
    one_line_error(
        lambda: load_data(ds, classes=["cat", "dog", "cat"]), "'cat' given more than once"
    )


def test_validation_split_too_small_says_so(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=5)
    message = one_line_error(
        lambda: load_data(root, validation_split=0.1), r"--validation-split 0\.1 is too small"
    )
    assert "no images found" not in message
    x, y = synthetic_images(30, 8)
    one_line_error(lambda: load_data((x, y), validation_split=0.02), "too small a split")


# --- processes: spawn-safe decoding, no orphans, no leftover temps ---------------------


def run_script(tmp_path: Path, body: str, **kw) -> subprocess.Popen | subprocess.CompletedProcess:
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": str(REPO), "AUGTRAIN_CACHE": str(tmp_path / "cache")}
    return subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, **kw
    )


def test_spawn_script_without_main_guard_decodes(tmp_path):
    root = tmp_path / "imgs"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(150):
            Image.fromarray(np.full((4, 4, 3), i, np.uint8)).save(root / c / f"{i:03d}.png")
    done = run_script(
        tmp_path,
        f"""
        import multiprocessing
        multiprocessing.set_start_method("spawn")
        from augtrain.data import load_data
        data = load_data({str(root)!r}, use_cache=False)
        print("decoded", len(data.train), int(data.train.x[151, 0, 0, 0]))
        """,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "decoded 300 1" in done.stdout


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_decode_workers_die_with_a_killed_parent(tmp_path, sig):
    root = write_image_folder(tmp_path / "imgs", per_class=300, classes=("a", "b"), size=4)
    pids = tmp_path / "pids"
    pids.mkdir()
    script = tmp_path / "slow_decode.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, time
            import augtrain.data.folder as folder
            real = folder.load_image
            def slow(*a, **k):  # forked workers inherit this
                open(os.path.join({str(pids)!r}, str(os.getpid())), "w").close()
                time.sleep(0.05)
                return real(*a, **k)
            folder.load_image = slow
            folder.decode_images(folder.walk_image_files({str(root)!r}), None, "rgb", "nearest",
                                 workers=2)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            workers = [int(p.name) for p in pids.iterdir() if int(p.name) != proc.pid]
            if len(workers) >= 2 or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert len(workers) >= 2, "the workers never started"
        os.kill(proc.pid, sig)
        proc.wait(30)
        deadline = time.time() + 10
        while time.time() < deadline and any(map(_alive, workers)):
            time.sleep(0.1)
        survivors = [p for p in workers if _alive(p)]
        assert not survivors, f"decode workers {survivors} outlived their parent"
    finally:
        proc.kill()
        for p in pids.iterdir():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(p.name), signal.SIGKILL)


def test_stale_cache_temps_are_swept_by_the_next_write_and_read(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    now = time.time()

    def temp(name: str, age: float) -> Path:
        p = folder / name
        p.write_bytes(b"x" * 1000)
        os.utime(p, (now - age, now - age))
        return p

    killed = temp(f".folder-abc.npz.{dead.pid}.k3j4h5g6.tmp", 60)
    ancient = temp(".folder-old.npz.x1y2z3w4.tmp", 3600)  # no pid in its name: age alone
    live = temp(f".folder-new.npz.{os.getpid()}.a1b2c3d4.tmp", 60)
    just_killed = temp(f".folder-x.npz.{dead.pid}.q1w2e3r4.tmp", 1)  # may still be written
    cache.save(folder / "entry.npz", {"x": np.zeros(3)})
    assert not killed.exists() and not ancient.exists()
    assert live.exists() and just_killed.exists()
    # a read sweeps too, also one that finds its entry
    os.utime(just_killed, (now - 60, now - 60))
    assert cache.load(folder / "entry.npz") is not None
    assert not just_killed.exists() and live.exists()


def test_atomic_temp_names_carry_the_writer_pid(tmp_path):
    from augtrain.io import atomic_path

    with atomic_path(tmp_path / "f.npz") as tmp:
        assert f".f.npz.{os.getpid()}." in tmp.name and cache._TEMP_PID.search(tmp.name)
        tmp.write_bytes(b"ok")
    assert (tmp_path / "f.npz").read_bytes() == b"ok"


def test_flow_from_dataframe_without_pandas_or_a_dataframe_is_one_line(tmp_path, monkeypatch):
    from augtrain.errors import AugtrainError
    from augtrain.keras import ImageDataGenerator

    frame = {"filename": ["a.png"], "class": ["cat"]}  # what a user without pandas might pass
    with pytest.raises(AugtrainError, match="takes a pandas DataFrame, got dict"):
        ImageDataGenerator().flow_from_dataframe(frame, directory=str(tmp_path))
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if pandas were not installed
    with pytest.raises(AugtrainError, match="flow_from_dataframe needs the pandas package"):
        ImageDataGenerator().flow_from_dataframe(frame, directory=str(tmp_path))
