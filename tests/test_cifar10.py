"""The official CIFAR-10 loader: tarball, extracted folder, and the real download
code against a local HTTP server serving a tiny tarball in the official format."""

import functools
import http.server
import os
import pickle
import tarfile
import threading

import numpy as np
import pytest
from fixtures import CIFAR_CLASSES, cifar_batches, write_cifar_tarball

import augtrain.data.cifar10 as cifar10
from augtrain.data import load_data
from augtrain.errors import AugtrainError


def expected_image(batch: dict, i: int) -> np.ndarray:
    return batch[b"data"][i].reshape(3, 32, 32).transpose(1, 2, 0)


def test_tarball_decodes_official_layout(tmp_path):
    tar = write_cifar_tarball(tmp_path / "cifar-10-python.tar.gz")
    data = load_data(tar)
    batches = cifar_batches()
    assert data.classes == CIFAR_CLASSES
    assert (len(data.train), len(data.test)) == (50, 10)
    assert np.array_equal(data.train.x[10], expected_image(batches["data_batch_2"], 0))
    assert np.array_equal(data.test.x[3], expected_image(batches["test_batch"], 3))
    assert list(data.train.y[:10]) == batches["data_batch_1"][b"labels"]


def test_extracted_folder(tmp_path):
    tar = write_cifar_tarball(tmp_path / "c.tar.gz")
    with tarfile.open(tar) as t:
        t.extractall(tmp_path, filter="data")
    data = load_data(tmp_path / "cifar-10-batches-py")
    assert len(data.train) == 50 and data.classes[0] == "airplane"


def test_missing_batch_is_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, batch in cifar_batches().items():
        if name != "data_batch_3":
            (folder / name).write_bytes(pickle.dumps(batch))
    with pytest.raises(AugtrainError, match="data_batch_3 is missing"):
        load_data(folder)


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_verifies_md5_and_is_reused(server, tmp_path, monkeypatch):
    www, base = server
    tar = write_cifar_tarball(www / "cifar-10-python.tar.gz")
    monkeypatch.setattr(cifar10, "MD5", cifar10.md5sum(tar))
    monkeypatch.setenv("AUGTRAIN_CIFAR10_URL", f"{base}/cifar-10-python.tar.gz")
    cache = tmp_path / "cache"
    data = load_data("cifar10", cache=cache)
    assert len(data.train) == 50
    assert (cache / "cifar-10-python.tar.gz").read_bytes() == tar.read_bytes()
    tar.unlink()  # a second start never needs the server
    assert len(load_data("cifar10", cache=cache).test) == 10


def test_download_wrong_checksum_leaves_nothing(server, tmp_path, monkeypatch):
    www, base = server
    write_cifar_tarball(www / "cifar-10-python.tar.gz")
    monkeypatch.setenv("AUGTRAIN_CIFAR10_URL", f"{base}/cifar-10-python.tar.gz")
    cache = tmp_path / "cache"
    with pytest.raises(AugtrainError, match="checksum mismatch"):
        load_data("cifar10", cache=cache)
    assert not cache.exists() or os.listdir(cache) == []


def test_download_failure_names_the_way_on(server, tmp_path, monkeypatch):
    _, base = server
    monkeypatch.setenv("AUGTRAIN_CIFAR10_URL", f"{base}/missing.tar.gz")
    with pytest.raises(AugtrainError, match="pass --data") as e:
        load_data("cifar10", cache=tmp_path / "cache")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "cache" / "cifar-10-python.tar.gz").exists()


def test_corrupt_tarball(tmp_path):
    bad = tmp_path / "cifar-10-python.tar.gz"
    bad.write_bytes(b"not a tarball at all")
    with pytest.raises(AugtrainError, match="not a readable"):
        load_data(bad)
