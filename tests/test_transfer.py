"""Transfer learning: weights from runs, checkpoints and torchvision-named state_dicts, new
heads, frozen bases, unfreezing with a lower base lr, feature extraction + logistic head."""

import json

import numpy as np
import pytest
import torch
from fixtures import synthetic_arrays

import augtrain
from augtrain.cli import main
from augtrain.errors import AugtrainError
from augtrain.models import create_model
from augtrain.models.heads import head_names
from augtrain.models.weights import load_weights, read_weights
from augtrain.training.callbacks import Callback
from augtrain.training.features import extract_features
from augtrain.training.unfreeze import FreezeBase


def arrays(classes=3, n=96, size=16, seed=0):
    return synthetic_arrays(n, size, 48, seed, [f"c{i}" for i in range(classes)])


def train(tmp_path, name, **kw):
    opts = dict(data=arrays(), model="cnn4", epochs=2, batch_size=16, lr=3e-3, verbose=0)
    opts.update(runs_dir=str(tmp_path), name=name, **kw)
    return augtrain.train(**opts)


def net_state(run):
    return {k: v.detach().clone() for k, v in run.model.net.state_dict().items()}


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """cnn4 trained on 3 classes: the weights the other tests start from."""
    return train(tmp_path_factory.mktemp("src"), "src", epochs=2)


def torchvision_resnet18_shapes(num_classes=1000):
    """torchvision's resnet18 state_dict names and shapes, written out by hand."""
    shapes = {"conv1.weight": (64, 3, 7, 7)}

    def bn(prefix, c):
        for s in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{s}"] = (c,)
        shapes[f"{prefix}.num_batches_tracked"] = ()

    bn("bn1", 64)
    cin = 64
    for i, width in enumerate([64, 128, 256, 512], start=1):
        for b in range(2):
            p = f"layer{i}.{b}"
            shapes[f"{p}.conv1.weight"] = (width, cin if b == 0 else width, 3, 3)
            bn(f"{p}.bn1", width)
            shapes[f"{p}.conv2.weight"] = (width, width, 3, 3)
            bn(f"{p}.bn2", width)
            if b == 0 and i > 1:
                shapes[f"{p}.downsample.0.weight"] = (width, cin, 1, 1)
                bn(f"{p}.downsample.1", width)
        cin = width
    shapes["fc.weight"], shapes["fc.bias"] = (num_classes, 512), (num_classes,)
    return shapes


def fake_torchvision_resnet18(seed=0):
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, shape in torchvision_resnet18_shapes().items():
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(7)
        elif k.endswith("running_var"):
            state[k] = torch.rand(shape, generator=g) + 0.5
        else:
            state[k] = torch.randn(shape, generator=g) * 0.05
    params = sum(
        v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k
    )
    assert params == 11_689_512
    return state


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_torchvision_resnet18_state_dict_loads(tmp_path, suffix):
    state = fake_torchvision_resnet18()
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".safetensors":
        st = pytest.importorskip("safetensors.torch")
        st.save_file(state, str(path))
    else:
        torch.save(state, path)

    same = create_model("resnet18", 1000, 3, 224, stem="imagenet")
    report = load_weights(same, read_weights(path), "resnet18")
    assert len(report.loaded) == len(state) and not (report.missing or report.unexpected)
    assert report.loaded_params == report.total_params == 11_689_512
    for k, v in same.state_dict().items():
        assert torch.equal(v, state[k]), k

    torch.manual_seed(0)
    new = create_model("resnet18", 5, 3, 64, stem="imagenet")
    fresh_fc = new.fc.weight.detach().clone()
    report = load_weights(new, read_weights(path), "resnet18")
    assert [k for k, *_ in report.new_head] == ["fc.weight", "fc.bias"]
    assert report.new_head[0][1:] == ((1000, 512), (5, 512))
    assert torch.equal(new.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])
    assert torch.equal(new.fc.weight, fresh_fc)  # the new head keeps its initialisation
    assert "new head, freshly initialised" in str(report) and "fc.weight" in str(report)
    new.eval()
    assert new(torch.rand(2, 3, 64, 64)).shape == (2, 5)

    cifar = create_model("resnet18", 10, 3, 32)  # CIFAR stem: conv1 differs, the rest loads
    report = load_weights(cifar, read_weights(path), "resnet18")
    assert [k for k, *_ in report.mismatched] == ["conv1.weight"]


def test_wrapped_and_prefixed_state_dicts(tmp_path):
    state = fake_torchvision_resnet18()
    torch.save(
        {"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, tmp_path / "w.pt"
    )
    model = create_model("resnet18", 1000, 3, 224, stem="imagenet")
    report = load_weights(model, read_weights(tmp_path / "w.pt"))
    assert len(report.loaded) == len(state)


def test_incompatible_and_bad_files(tmp_path):
    torch.save(fake_torchvision_resnet18(), tmp_path / "r.pth")
    with pytest.raises(
        AugtrainError, match="no tensor matches model vgg16.*looks like torchvision's resnet"
    ):
        load_weights(create_model("vgg16"), read_weights(tmp_path / "r.pth"), "vgg16")
    shrunk = {k: v[..., :1] if v.dim() == 4 else v for k, v in fake_torchvision_resnet18().items()}
    torch.save(shrunk, tmp_path / "s.pth")
    with pytest.raises(AugtrainError, match="incompatible with model resnet18: only"):
        load_weights(
            create_model("resnet18", stem="imagenet"), read_weights(tmp_path / "s.pth"), "resnet18"
        )
    with pytest.raises(AugtrainError, match="no such run folder or weights file"):
        read_weights(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a pickle")
    with pytest.raises(AugtrainError, match="not a readable weights file"):
        read_weights(tmp_path / "junk.pth")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(AugtrainError, match="not a state_dict"):
        read_weights(tmp_path / "list.pt")


def test_heads():
    assert head_names(create_model("vgg16")) == ("classifier",)
    assert head_names(create_model("resnet18")) == ("fc",)
    assert head_names(create_model("googlenet")) == ("fc",)
    assert head_names(create_model("cnn4")) == ("classifier",)


class Snapshots(Callback):
    """The network's state and the optimizer's group lrs after each epoch."""

    def __init__(self):
        self.states, self.lrs, self.grads_none = [], [], []

    def on_batch_end(self, batch, logs=None):
        if batch == 0:
            base = [p for n, p in self.model.net.named_parameters() if n.startswith("features")]
            self.grads_none.append(all(p.grad is None for p in base))

    def on_epoch_end(self, epoch, logs=None):
        self.states.append({k: v.detach().clone() for k, v in self.model.net.state_dict().items()})
        self.lrs.append([g["lr"] for g in self.trainer.optimizer.param_groups])


def test_new_head_frozen_base(tmp_path, source_run):
    """A run's weights into a 2-class cnn4: the base stays as trained, only the head learns."""
    src = net_state(source_run)
    snaps = Snapshots()
    run = train(
        tmp_path,
        "frozen",
        data=arrays(2, seed=5),
        init_from=str(source_run.path),
        freeze="base",
        epochs=2,
        callbacks=[snaps],
    )
    after = net_state(run)
    for k, v in after.items():
        if k.startswith("features"):
            assert torch.equal(v, src[k]), k  # frozen
    assert not torch.equal(after["classifier.1.weight"], src["classifier.1.weight"])  # head trains
    assert after["classifier.4.weight"].shape == (2, 256)  # new output layer
    assert snaps.grads_none == [True, True]  # frozen parameters never get a gradient
    config = json.loads((run.path / "config.json").read_text())["config"]
    assert config["init_from"] == str(source_run.path) and config["freeze"] == "base"


def test_unfreeze_after_with_lower_base_lr(tmp_path, source_run, capsys):
    src = net_state(source_run)
    snaps = Snapshots()
    run = train(
        tmp_path,
        "unfreeze",
        data=arrays(2, seed=5),
        init_from=str(source_run.path / "last.pt"),
        freeze="base",
        unfreeze_after=1,
        base_lr_mult=0.1,
        epochs=2,
        callbacks=[snaps],
        optimizer="sgd",
        momentum=0.9,
        verbose=1,
    )
    out = capsys.readouterr().out
    assert (
        "init-from" in out and "new head" in out and "epoch 2: base unfrozen (base lr x 0.1)" in out
    )
    first, second = snaps.states
    assert torch.equal(first["features.0.weight"], src["features.0.weight"])
    assert not torch.equal(second["features.0.weight"], src["features.0.weight"])
    head_lr, base_lr = snaps.lrs[-1]
    assert base_lr == pytest.approx(0.1 * head_lr)
    assert snaps.grads_none == [True, False]
    assert run.history[-1]["lr"] == pytest.approx(head_lr)


def test_frozen_batch_norm_keeps_its_statistics(tmp_path):
    base = train(tmp_path, "bn-src", model="lenet5", epochs=1)
    src = net_state(base)
    run = train(
        tmp_path,
        "bn",
        model="lenet5",
        data=arrays(2, seed=3),
        init_from=str(base.path),
        freeze="base",
        epochs=1,
    )
    after = net_state(run)
    assert torch.equal(after["features.1.running_mean"], src["features.1.running_mean"])
    assert not torch.equal(after["classifier.3.running_mean"], src["classifier.3.running_mean"])


def test_freeze_callback_resumes_in_the_right_state():
    net = create_model("cnn4")
    cb = FreezeBase(net, True, unfreeze_after=2, verbose=0)
    assert not net.features[0].weight.requires_grad and net.classifier[1].weight.requires_grad
    cb.trainer = type("T", (), {"epoch": 3})()
    cb.on_train_begin()
    assert net.features[0].weight.requires_grad


def test_features_and_logistic_head(tmp_path, source_run, capsys):
    data = arrays(3, seed=9)
    np.savez(tmp_path / "d.npz", **data)
    out = tmp_path / "f.npz"
    assert (
        main(
            [
                "features",
                "--from",
                str(source_run.path),
                "--data",
                str(tmp_path / "d.npz"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "input of classifier.4, 256 values per image" in capsys.readouterr().out
    with np.load(out) as f:
        assert f["x"].shape == (96, 256) and f["x_test"].shape == (48, 256)
        assert f["x"].dtype == np.float32 and list(f["classes"]) == ["c0", "c1", "c2"]
        assert np.array_equal(f["y_test"], data["y_test"])
        feats = f["x"]
    # the same numbers as a hook on the model itself
    direct, _ = extract_features(source_run.model, data["x"][:5])
    assert np.allclose(direct, feats[:5], atol=1e-5)
    conv, label = extract_features(source_run.model, data["x"][:5], "features")
    assert label == "features" and conv.shape == (5, 64 * 4 * 4)

    assert (
        main(
            [
                "train",
                "--head",
                "logistic",
                "--features",
                str(out),
                "--runs-dir",
                str(tmp_path),
                "--name",
                "lr",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    metrics = json.loads((tmp_path / "lr" / "metrics.json").read_text())
    assert f"test: loss {metrics['loss']:.4f} - accuracy {metrics['accuracy']:.4f}" in printed
    assert metrics["accuracy"] > 0.8 and metrics["head"] == "logistic"
    assert (tmp_path / "lr" / "model.pkl").exists() and (
        tmp_path / "lr" / "confusion_matrix.png"
    ).exists()


def test_features_from_state_dict_file(tmp_path, capsys):
    torch.save(fake_torchvision_resnet18(), tmp_path / "r.pth")
    data = arrays(2, n=8, size=32)
    del data["x_test"], data["y_test"]
    np.savez(tmp_path / "d.npz", **data)
    args = ["features", "--from", str(tmp_path / "r.pth"), "--data", str(tmp_path / "d.npz")]
    args += ["--model", "resnet18", "--model-option", "stem=imagenet", "--input-norm", "imagenet"]
    assert main([*args, "--layer", "avgpool", "--out", str(tmp_path / "f.npz")]) == 0
    with np.load(tmp_path / "f.npz") as f:
        assert f["x"].shape == (8, 512) and "x_test" not in f.files and str(f["layer"]) == "avgpool"


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--init-from", "{tmp}/missing.pth"], "missing.pth: no such run folder or weights file"),
        (["--init-from", "{tmp}/r.pth"], "no tensor matches model speednet"),  # the default job
        (["--unfreeze-after", "2"], "--unfreeze-after needs --freeze base"),
        (["--freeze", "base", "--base-lr-mult", "0"], "--base-lr-mult 0.0: must be a number > 0"),
        (["--head", "logistic"], "--head logistic needs --features"),
        (["--features", "{tmp}/nope.npz"], "no such file"),
        (["--features", "{tmp}/d.npz"], "x must be (N, D) features"),
        (["--model", "vgg19"], "unknown model 'vgg19'"),
        (["--model-option", "stem"], "expected KEY=VALUE"),
    ],
)
def test_cli_bad_transfer_input(tmp_path, capsys, extra, message):
    np.savez(tmp_path / "d.npz", **arrays())
    torch.save(fake_torchvision_resnet18(), tmp_path / "r.pth")
    extra = [e.format(tmp=tmp_path) for e in extra]
    code = main(
        [
            "train",
            "--data",
            str(tmp_path / "d.npz"),
            "--runs-dir",
            str(tmp_path),
            "--epochs",
            "1",
            *extra,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1


def test_cli_bad_features_input(tmp_path, source_run, capsys):
    np.savez(tmp_path / "d.npz", **arrays())
    np.savez(tmp_path / "small.npz", **arrays(size=8))
    base = ["features", "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "f.npz")]
    cases = [
        (["--from", str(tmp_path / "none")], "no such run folder or weights file"),
        (["--from", str(source_run.path), "--layer", "featres"], "did you mean features"),
        (
            ["--from", str(source_run.path), "--data", str(tmp_path / "small.npz")],
            "images are 8x8x3 but the model takes 16x16x3",
        ),
    ]
    torch.save(fake_torchvision_resnet18(), tmp_path / "r.pth")
    cases.append((["--from", str(tmp_path / "r.pth")], "add --model NAME"))
    for extra, message in cases:
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
