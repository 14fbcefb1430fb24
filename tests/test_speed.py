"""The speed recipe (issue 8): speednet, patch whitening, presets, alternating flips,
lookahead, and `--preset speed` end to end on small synthetic data."""

import json

import numpy as np
import pytest
import torch
from fixtures import synthetic_arrays, write_image_folder

import augtrain
from augtrain.augment import Compose, build_pipeline
from augtrain.augment.functional import crop as gather_crop
from augtrain.augment.speed_ops import AlternatingFlip, FlipTranslate
from augtrain.cli import main
from augtrain.models import create_model
from augtrain.models.speednet import patches_of
from augtrain.training.config import TrainConfig
from augtrain.training.lookahead import Lookahead
from augtrain.training.optim import build_schedule
from augtrain.training.presets import PRESETS, apply_preset, resolve_name, with_preset

SMALL = {"widths": [8, 16, 16]}


def arrays(n=128, size=16, seed=0):
    return synthetic_arrays(n, size, 48, seed)


# ------------------------------------------------------------------ speednet
@pytest.mark.parametrize(
    "size,channels,classes",
    [(32, 3, 10), (28, 1, 5), (17, 4, 7), (8, 3, 2), (2, 3, 3), ((24, 40), 3, 4)],
)
def test_speednet_builds_for_any_size(size, channels, classes):
    net = create_model("speednet", classes, channels, size, **SMALL)
    h, w = (size, size) if isinstance(size, int) else size
    out = net(torch.rand(3, channels, h, w))
    assert out.shape == (3, classes)
    k = net.whiten.kernel_size[0]
    assert net.whiten.out_channels == 2 * channels * k * k


def test_speednet_default_is_airbench94_sized():
    net = create_model("speednet", 10, 3, 32)
    assert [b.conv2.out_channels for b in net.blocks] == [64, 256, 256]
    assert 1.9e6 < sum(p.numel() for p in net.parameters()) < 2.1e6
    wide = create_model("speednet", 10, 3, 32, widths=[16, 32, 32], depth=3)
    assert wide.blocks[0].conv3 is not None
    assert wide(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_whitening_init_whitens_patches_and_stays_frozen():
    torch.manual_seed(0)
    # strongly correlated images: smooth 8x8 noise upsampled 4x, channels mixed
    base = torch.rand(400, 3, 8, 8).repeat_interleave(4, 2).repeat_interleave(4, 3)
    mixed = torch.einsum(
        "nchw,dc->ndhw", base, torch.tensor([[1, 0.8, 0.6], [0, 1, 0.5], [0, 0, 1.0]])
    )
    images = (mixed / mixed.amax() * 255).to(torch.uint8)
    mean, std = [0.4, 0.35, 0.3], [0.2, 0.2, 0.2]
    net = create_model("speednet", 10, 3, 32, **SMALL)
    net.init_from_data(images, mean, std)
    x = (images.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(
        1, 3, 1, 1
    )
    # before whitening the patch covariance is far from the identity
    rows = patches_of(x, (2, 2)).double()
    eig = torch.linalg.eigvalsh(rows.T @ rows / len(rows))
    assert eig.max() / eig.min() > 10
    out = torch.nn.functional.conv2d(x, net.whiten.weight)  # no bias: the linear map alone
    d = out.shape[1] // 2
    o = out[:, :d].permute(0, 2, 3, 1).reshape(-1, d).double()
    cov = o.T @ o / len(o)
    # identity up to eps=5e-4 in 1/sqrt(eigenvalue + eps): diag = eigenvalue / (eigenvalue + eps)
    off = cov - torch.diag(cov.diag())
    assert off.abs().max() < 1e-3
    assert cov.diag().min() > 0.9 and cov.diag().max() < 1.0 + 1e-6
    # both signs of every filter
    assert torch.equal(net.whiten.weight[d:], -net.whiten.weight[:d])
    # frozen: not a trainable parameter, not in any optimizer group, unchanged by training
    assert not net.whiten.weight.requires_grad
    groups = net.param_groups()
    assert all(p is not net.whiten.weight for g in groups for p in g["params"])
    before = net.whiten.weight.clone()
    opt = torch.optim.SGD([{"params": g["params"]} for g in groups], lr=0.1, momentum=0.9)
    for _ in range(2):
        loss = net(x[:16]).logsumexp(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.equal(net.whiten.weight, before)


def test_whitening_init_spreads_over_class_sorted_data():
    net = create_model("speednet", 2, 3, 8, widths=[4, 4, 4], whiten_samples=10)
    images = torch.zeros(100, 3, 8, 8, dtype=torch.uint8)
    images[50:] = torch.randint(0, 255, (50, 3, 8, 8), dtype=torch.uint8)  # "class 2" half
    net.init_from_data(images)  # the first 10 would be all zeros: covariance 0
    assert torch.isfinite(net.whiten.weight).all()
    assert net.whiten.weight.abs().max() < 1e3


def test_param_groups_scale_bias_lr_and_set_epoch_freezes_whitening_bias():
    net = create_model("speednet", 3, 3, 16, **SMALL)
    groups = {g["name"]: g for g in net.param_groups()}
    assert groups["bn_biases"]["lr_mult"] == 64.0
    assert groups["bn_biases"]["weight_decay_mult"] == pytest.approx(1 / 64)
    assert all(p.ndim == 1 for p in groups["bn_biases"]["params"])
    assert any(p is net.whiten.bias for p in groups["weights"]["params"])
    assert all(
        not n.endswith("norm1.weight") or not p.requires_grad for n, p in net.named_parameters()
    )
    net.set_epoch(0)
    assert net.whiten.bias.requires_grad
    net.set_epoch(3)
    assert not net.whiten.bias.requires_grad


# ------------------------------------------------------------------ augmentation
def test_alternating_flip_alternates_per_sample_deterministically():
    images = torch.randint(0, 256, (64, 3, 6, 6), dtype=torch.uint8)
    index = torch.arange(64)
    pipe = Compose([AlternatingFlip()], seed=5)
    outs = [pipe(images, index, epoch) for epoch in range(4)]
    flipped = [
        (o == images.flip(3)).flatten(1).all(1) & ~(o == images).flatten(1).all(1) for o in outs
    ]
    same = [(o == images).flatten(1).all(1) for o in outs]
    for e in range(4):
        assert torch.all(flipped[e] ^ same[e])  # each sample exactly mirrored or untouched
    for e in range(3):
        assert torch.equal(flipped[e], ~flipped[e + 1])  # every sample alternates
    assert torch.equal(outs[0], outs[2]) and torch.equal(outs[1], outs[3])
    assert 16 < int(flipped[0].sum()) < 48  # about half start mirrored
    # the same sample gets the same flip whatever batch it is in
    part = pipe(images[10:20], index[10:20], 1)
    assert torch.equal(part, outs[1][10:20])
    # another seed, other bits
    assert not torch.equal(Compose([AlternatingFlip()], seed=6)(images, index, 0), outs[0])


def test_flip_translate_is_a_reflect_padded_shift():
    images = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8)
    index = torch.arange(40)
    pipe = build_pipeline(
        [{"op": "FlipTranslate", "pixels": 2, "flip": "alternating", "padding_mode": "reflect"}],
        seed=1,
    )
    assert isinstance(pipe.ops[0], FlipTranslate)
    for epoch in (0, 1):
        out = pipe(images, index, epoch)
        shifts = set()
        for i in range(40):
            found = None
            for dy in range(-2, 3):
                for dx in range(-2, 3):
                    for flip in (False, True):
                        ref = gather_crop(
                            images[i : i + 1],
                            torch.tensor([dy]),
                            torch.tensor([dx]),
                            8,
                            8,
                            flip_h=torch.tensor([flip]),
                            mode="mirror",
                        )
                        if torch.equal(ref, out[i : i + 1]):
                            found = (dy, dx, flip)
            assert found is not None
            shifts.add(found[:2])
        assert len(shifts) > 5  # shifts vary over samples
    # exactness and determinism on uint8
    assert out.dtype == torch.uint8 and torch.equal(out, pipe(images, index, 1))


def test_cutout_fills_one_square():
    images = torch.full((6, 3, 16, 16), 7, dtype=torch.uint8)
    op = FlipTranslate(pixels=0, flip="none", cutout=5, cutout_fill=200)
    out = Compose([op])(images, torch.arange(6), 0)
    assert ((out == 200).sum(dim=(1, 2, 3)) == 3 * 25).all()


# ------------------------------------------------------------------ presets
def test_preset_values_and_user_flags_win():
    assert resolve_name("speed", cuda=False) == "speed-cpu"
    assert resolve_name("speed", cuda=True) == "speed"
    out = apply_preset("speed", {}, cuda=True)
    assert out["preset"] == "speed" and out["model"] == "speednet"
    assert out["model_options"]["widths"] == [64, 256, 256]
    assert out["batch_size"] == 1024 and out["nesterov"] and out["label_smoothing"] == 0.2
    # airbench's lr 11.5 per 1024 examples over 1 + 1/(1 - 0.85): 1.5 for a mean loss
    assert out["lr"] == pytest.approx(1.5)
    assert out["weight_decay"] == pytest.approx(0.0153 / 11.5)
    assert out["warmup_epochs"] == pytest.approx(0.23 * out["epochs"])
    mine = apply_preset(
        "speed",
        {"epochs": 3, "batch_size": 512, "label_smoothing": 0.0, "model_options": {"depth": 3}},
        cuda=True,
    )
    assert mine["epochs"] == 3 and mine["label_smoothing"] == 0.0 and mine["batch_size"] == 512
    assert mine["lr"] == pytest.approx(0.75)  # derived from the batch the user chose
    assert mine["warmup_epochs"] == pytest.approx(0.69)
    assert mine["model_options"] == {"widths": [64, 256, 256], "depth": 3}
    assert apply_preset("speed", {"lr": 0.1}, cuda=True)["lr"] == 0.1
    other = apply_preset("speed", {"model": "cnn4"}, cuda=True)
    assert other["model"] == "cnn4" and other["model_options"] == {}
    for name in PRESETS:
        TrainConfig(**{k: v for k, v in apply_preset(name, {}, True).items()}).validate()


def test_with_preset_from_a_config_object_keeps_what_differs_from_defaults():
    config = TrainConfig(preset="speed", epochs=2, batch_size=64)
    out = with_preset(config, {}, lambda d: False)
    assert out["preset"] == "speed-cpu" and out["epochs"] == 2 and out["batch_size"] == 64
    assert out["optimizer"] == "sgd"
    # keyword overrides beat the config object, and the preset
    out = with_preset(config, {"epochs": 5, "label_smoothing": 0.0}, lambda d: True)
    assert out["epochs"] == 5 and out["label_smoothing"] == 0.0 and out["preset"] == "speed"
    assert with_preset(None, {"epochs": 1, "model": "cnn4"}, lambda d: True) == {
        "epochs": 1,
        "model": "cnn4",
    }


def test_triangle_start_and_end_factors():
    f = build_schedule("triangle", 10, warmup_epochs=2.3, start_factor=0.2, end_factor=0.07)
    assert f(0) == pytest.approx(0.2)
    assert f(2.3) == pytest.approx(1.0)
    assert f(10) == pytest.approx(0.07)
    assert f(6.15) == pytest.approx(0.07 + 0.93 * 0.5)
    g = build_schedule("triangle", 10, warmup_epochs=2)
    assert g(0) == 0 and g(10) == 0 and g(2) == pytest.approx(1)


# ------------------------------------------------------------------ lookahead
class _StubTrainer:
    def __init__(self, model):
        self.model = model
        self.global_step = 0
        self.train = list(range(100))
        self.config = TrainConfig(epochs=2, batch_size=10)


def test_lookahead_averages_copies_back_and_round_trips():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    trainer = _StubTrainer(model)
    la = Lookahead()
    la.set_trainer(trainer)
    la.set_params({"epochs": 2, "steps": 10})  # 100 samples in batches of 10
    la.on_train_begin({})
    assert la.total_steps() == 20
    start = [t.clone() for t in model.state_dict().values()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    trainer.global_step = 15
    la.on_batch_end(14, {})  # decay 0.95**5 * (15/20)**3 ~ 0.33
    decay = 0.95**5 * 0.75**3
    w = model[0].weight
    assert torch.allclose(w, decay * start[0] + (1 - decay) * (start[0] + 1), atol=1e-6)
    assert torch.equal(la.slow[0], w)  # fast weights are the slow ones after an update
    state = la.state_dict()
    assert all(t.device.type == "cpu" for t in state["slow"])
    # round trip into a fresh callback on a fresh model
    model2 = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    model2.load_state_dict(model.state_dict())  # as a resume restores the model
    la2 = Lookahead()
    la2.load_state_dict(state)
    assert la2.state_dict()["slow"][0].equal(state["slow"][0])
    la2.set_trainer(_StubTrainer(model2))
    la2.set_params({"epochs": 2, "steps": 10})
    la2.on_train_begin({})
    for a, b in zip(la.slow, la2.slow):
        assert torch.equal(a, b)
    la2.trainer.global_step = 17  # not a multiple of 5: the epoch end makes an update
    with torch.no_grad():
        model2[0].weight.add_(5.0)
    la2.on_epoch_end(0, {})
    assert torch.equal(model2[0].weight, la2.slow[0])  # fast = slow after it
    decay = 0.95**5 * (17 / 20) ** 3
    assert torch.allclose(model2[0].weight, la.slow[0] + 5 * (1 - decay), atol=1e-5)
    assert not torch.equal(la.slow[0], la2.slow[0])


# ------------------------------------------------------------------ end to end
def test_preset_speed_run_through_the_api(tmp_path):
    run = augtrain.train(
        data=arrays(),
        preset="speed",
        epochs=3,
        batch_size=32,
        model_options=SMALL,
        runs_dir=str(tmp_path),
        name="api",
        verbose=0,
    )
    cfg = json.loads((run.path / "config.json").read_text())["config"]
    assert cfg["preset"] == ("speed" if torch.cuda.is_available() else "speed-cpu")
    assert cfg["model"] == "speednet" and cfg["lookahead"] and cfg["validation"] == "none"
    assert cfg["schedule"] == "triangle"  # airbench's linear one, not the cosine onecycle
    assert cfg["model_options"]["widths"] == SMALL["widths"]
    assert run.metrics["tta"] == "flip-translate" and "accuracy_without_tta" in run.metrics
    assert run.metrics["accuracy"] > 0.6  # the synthetic task is easy
    # --save-freq end: one last.pt, written at the end; history.csv every epoch
    assert (run.path / "last.pt").exists() and not (run.path / "best.pt").exists()
    assert len((run.path / "history.csv").read_text().splitlines()) == 4
    ckpt = torch.load(run.path / "last.pt", weights_only=True)
    assert ckpt["trainer"]["epoch"] == 3
    opt = run.trainer.optimizer
    mults = sorted(g["lr_mult"] for g in opt.param_groups)
    assert mults == [1.0, 64.0]
    # the whitening bias trains in epochs 0-2 (whiten_bias_epochs=3): still trainable
    assert run.model.net.whiten.bias.requires_grad
    # the lr followed the triangle with airbench's start and end factors (the last step of
    # 4 per epoch is at progress 2.75 epochs)
    f = build_schedule("triangle", 3, warmup_epochs=0.69, start_factor=0.2, end_factor=0.07)
    assert run.history[-1]["lr"] == pytest.approx(run.config.lr * f(2.75))


def test_preset_speed_through_the_cli_writes_metrics(tmp_path, capsys):
    data = write_image_folder(tmp_path / "imgs", per_class=12, size=16)
    code = main(
        [
            "train",
            "--data",
            str(data),
            "--preset",
            "speed",
            "--epochs",
            "2",
            "--batch-size",
            "16",
            "--model-option",
            "widths=[8,16,16]",
            "--validation-split",
            "0.25",
            "--runs-dir",
            str(tmp_path / "runs"),
            "--name",
            "cli",
            "--verbose",
            "0",
        ]
    )
    assert code == 0
    metrics = json.loads((tmp_path / "runs/cli/metrics.json").read_text())
    assert metrics["tta"] == "flip-translate" and 0 <= metrics["accuracy"] <= 1
    cfg = json.loads((tmp_path / "runs/cli/config.json").read_text())["config"]
    assert cfg["epochs"] == 2 and cfg["batch_size"] == 16  # the user's flags won
    assert cfg["augment"][0]["op"] == "FlipTranslate"
    # the run folder reloads: evaluate gives the plain accuracy
    assert main(["evaluate", str(tmp_path / "runs/cli")]) == 0


def test_unknown_preset_is_one_line_error(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", **arrays())
    code = main(["train", "--data", str(tmp_path / "d.npz"), "--preset", "nope"])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown --preset 'nope'" in err and len(err.strip().splitlines()) == 1
